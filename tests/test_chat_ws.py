"""ChatAgent over WebSockets through the Serve ingress, with the Python `AgentClient`: streamed
replies with sequence numbers, a socket dropped mid-reply and resumed, approvals, cancellation.
The model is the local fake server (`tests.fake_llm`), which can hold a reply mid-stream.

The tests share one conversation (agent): a new agent process spends ~6 s importing litellm.
Each test scripts its own replies, leaves the conversation idle, and asserts relative to it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from agents import get_agent
from agents.chat import Chunk, Rewind, Text
from agents.chat.chunks import CHUNK
from agents.client import AgentClient, ConnectionLostError
from tests.agents_for_chat import FAKE_LLM_URL, Assistant
from tests.fake_llm import Call, Reply, shared

# Started at collection, before the session's ray.init, so agent processes inherit its URL.
SERVER = shared(FAKE_LLM_URL)


def text_of(chunks: list[Chunk]) -> str:
    return "".join(c.delta for c in chunks if isinstance(c, Text))


async def collect(items: AsyncIterator[Any]) -> list[Chunk]:
    """A streamed call's items, parsed back into typed chunks."""
    return [CHUNK.validate_python(item) async for item in items]


@pytest.fixture(scope="module")
def agent_id() -> str:
    """The conversation every test here talks to (also its model key on the fake server)."""
    return f"chat-ws-{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def client(served: str, agent_id: str) -> AsyncIterator[Callable[[], Any]]:
    """Opens AgentClients to the `Assistant` through the ingress; closes them after the test."""
    opened: list[AgentClient] = []

    async def open_client() -> AgentClient:
        url = f"{served.replace('http', 'ws', 1)}/agents/assistant/{agent_id}"
        opened.append(AgentClient(url))
        return await opened[-1].connect()

    yield open_client
    await asyncio.gather(*(c.close() for c in opened))


async def test_reply_streams_over_websocket_with_sequence_numbers(client, agent_id: str) -> None:
    SERVER.script(agent_id, Reply(text="Hello over the socket"))
    chat = await client()
    chunks = await collect(chat.stream("chat", "hi"))
    assert [c.type for c in chunks] == ["start", "text", "text", "text", "text", "done"]
    assert [c.seq for c in chunks] == [1, 2, 3, 4, 5, 6]
    assert {c.stream_id for c in chunks} == {chunks[0].stream_id}
    assert text_of(chunks) == "Hello over the socket" and chunks[-1].status == "complete"
    assert (await chat.call("messages"))[-2:] == [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "Hello over the socket"},
    ]


async def test_dropped_socket_resumes_with_exactly_the_missed_chunks(client, agent_id: str) -> None:
    (held,) = SERVER.script(agent_id, Reply(text="one two three four five", hold_after=2))
    chat = await client()
    asked = len(SERVER.requests[agent_id])
    items = chat.stream("chat", "count")
    seen = [CHUNK.validate_python(await items.__anext__()) for _ in range(3)]  # start, "one", " two"
    assert held.reached.is_set() and text_of(seen) == "one two"
    await chat._ws.close()  # the network drops: the client reconnects by itself
    with pytest.raises(ConnectionLostError):
        await items.__anext__()
    # The turn must keep running in the agent rather than be cancelled with the socket (a cancel
    # would close the model's HTTP stream within milliseconds; nothing else can be awaited here).
    assert not await asyncio.to_thread(held.closed_early.wait, 1.0)
    held.release.set()
    rest = await collect(chat.stream("resume", seen[0].stream_id, seen[-1].seq))  # sent on reconnect
    assert chat.connects == 2
    assert not any(isinstance(c, Rewind) for c in rest)
    assert [c.seq for c in rest] == list(range(seen[-1].seq + 1, seen[-1].seq + 1 + len(rest)))
    assert text_of(seen + rest) == "one two three four five"
    assert rest[-1].type == "done" and rest[-1].status == "complete"
    assert len(SERVER.requests[agent_id]) == asked + 1  # the model was asked once: nothing redone
    assert [m["content"] for m in await chat.call("messages")][-2:] == ["count", "one two three four five"]


async def test_approval_request_and_approve_over_websocket(client, agent_id: str) -> None:
    call = Call("transfer", {"amount": 5, "to": "bob"})
    SERVER.script(agent_id, Reply(text="Sending.", calls=[call]), Reply(text="all done"))
    chat = await client()
    first = await collect(chat.stream("chat", "pay bob 5"))
    assert [c.type for c in first[-3:]] == ["tool_call", "approval_request", "done"]
    assert first[-2].call_id == call.id and first[-1].status == "awaiting_approval"
    assert [p["call_id"] for p in await chat.call("pending_approvals")] == [call.id]
    rest = await collect(chat.stream("approve", call.id))
    assert rest[0].seq > first[-1].seq and rest[0].stream_id == first[0].stream_id
    assert (rest[0].type, rest[0].result, rest[0].is_error) == ("tool_result", "sent 5 to bob", False)
    assert text_of(rest) == "all done" and rest[-1].status == "complete"
    assert await chat.call("pending_approvals") == []
    assert await get_agent(Assistant, agent_id).pending_approvals() == []


async def test_cancel_frame_still_stops_the_turn_and_resume_redoes_it(client, agent_id: str) -> None:
    held, _ = SERVER.script(agent_id, Reply(text="first try", hold_after=1), Reply(text="second try"))
    chat = await client()
    items = chat.stream("chat", "go")
    seen = [CHUNK.validate_python(await items.__anext__()) for _ in range(2)]  # start, "first"
    await items.aclose()  # an explicit cancel frame: the turn is stopped and rolled back
    assert await asyncio.to_thread(held.closed_early.wait, 30)
    held.release.set()
    rest = await collect(chat.stream("resume", seen[0].stream_id, seen[-1].seq))
    assert isinstance(rest[0], Rewind) and rest[0].to_seq == 1 and rest[0].seq > seen[-1].seq
    assert text_of(rest) == "second try" and rest[-1].status == "complete"
