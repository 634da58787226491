"""ChatAgent on real Ray: litellm against a local fake OpenAI server (its real HTTP streaming path)
and litellm's `mock_response`; history, retention, approvals, crash recovery, resume, queueing."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections.abc import AsyncIterator
from typing import Any

import pytest

from agents import AgentUnavailableError, get_agent
from agents.chat import ApprovalPendingError, Chunk, UnknownStreamError, tool
from agents.chat.chunks import CHUNK, Done, Rewind, Text
from agents.runtime import agent_events
from tests.agents_for_chat import (
    FAKE_LLM_URL,
    Assistant,
    CodeModeAssistant,
    ForgetfulAssistant,
    MockedChat,
    SleepyAssistant,
    add,
)
from tests.cluster_view import hibernated
from tests.fake_llm import Call, Reply, shared
from tests.waiting import eventually

# Started at collection, before the session's ray.init, so agent processes inherit its URL.
SERVER = shared(FAKE_LLM_URL)

pytestmark = pytest.mark.usefixtures("runtime")
#: Most behaviour here does not depend on the checkpoint store: run it on the file store only,
#: with dedicated and with pooled hosting.
file_store = pytest.mark.parametrize("store_url", ["file", "pooled"], indirect=True)


async def collect(stream: AsyncIterator[Chunk]) -> list[Chunk]:
    return [chunk async for chunk in stream]


def text_of(chunks: list[Chunk]) -> str:
    return "".join(c.delta for c in chunks if isinstance(c, Text))


def last_request(agent_id: str) -> list[dict[str, Any]]:
    return SERVER.requests[agent_id][-1]["messages"]


# ---- no Ray needed ---------------------------------------------------------------------------


def test_chunks_round_trip_through_json() -> None:
    chunk = Done(stream_id="s", seq=7, status="error", error="boom")
    assert CHUNK.validate_json(chunk.model_dump_json()) == chunk
    assert json.loads(Rewind(stream_id="s", seq=70, to_seq=3).model_dump_json()) == {
        "stream_id": "s",
        "seq": 70,
        "type": "rewind",
        "to_seq": 3,
    }


async def test_tool_schema_comes_from_type_hints_and_arguments_are_validated() -> None:
    add_tool = tool(add)
    assert add_tool.schema()["function"] == {
        "name": "add",
        "description": "Add two integers.",
        "parameters": {
            "properties": {"a": {"title": "A", "type": "integer"}, "b": {"title": "B", "type": "integer"}},
            "required": ["a", "b"],
            "type": "object",
        },
    }
    assert (await add_tool.run('{"a": 2, "b": "3"}')).text == "5"
    refused = await add_tool.run('{"a": "two"}')
    assert refused.is_error and "a: Input should be a valid integer" in refused.text
    assert "b: Field required" in refused.text


# ---- streaming and tools ---------------------------------------------------------------------


@file_store
async def test_reply_streams_numbered_text_chunks_and_is_stored(agent_id: str) -> None:
    SERVER.script(agent_id, Reply(text="Hello there, world"))
    chunks = await collect(get_agent(Assistant, agent_id).chat("hi"))
    assert [c.type for c in chunks] == ["start", "text", "text", "text", "done"]
    assert [c.seq for c in chunks] == [1, 2, 3, 4, 5]
    assert {c.stream_id for c in chunks} == {chunks[0].stream_id}
    assert text_of(chunks) == "Hello there, world"
    assert chunks[-1].status == "complete"
    sent = SERVER.requests[agent_id][0]
    assert sent["messages"] == [
        {"role": "system", "content": "You are a test assistant."},
        {"role": "user", "content": "hi"},
    ]
    assert {t["function"]["name"] for t in sent["tools"]} == {"add", "explode", "transfer"}
    assert await get_agent(Assistant, agent_id).messages() == [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "Hello there, world"},
    ]


@file_store
async def test_tool_errors_and_invalid_arguments_go_back_to_the_model(agent_id: str) -> None:
    calls = [
        Call("add", {"a": 2, "b": 3}),
        Call("add", {"a": "two", "b": 3}),
        Call("explode", {"reason": "kaboom"}),
        Call("no_such_tool", {}),
    ]
    SERVER.script(agent_id, Reply(calls=calls), Reply(text="done"))
    chunks = await collect(get_agent(Assistant, agent_id).chat("compute"))
    results = [c for c in chunks if c.type == "tool_result"]
    assert [c.type for c in chunks if c.type.startswith("tool")] == ["tool_call"] * 4 + ["tool_result"] * 4
    assert (results[0].result, results[0].is_error) == ("5", False)
    assert results[1].is_error and "a: Input should be a valid integer" in results[1].result
    assert results[2].is_error and "RuntimeError: kaboom" in results[2].result
    assert results[3].is_error and "no tool named 'no_such_tool'" in results[3].result
    assert chunks[-1].status == "complete" and text_of(chunks) == "done"
    tool_messages = [m for m in last_request(agent_id) if m["role"] == "tool"]
    assert [m["tool_call_id"] for m in tool_messages] == [c.id for c in calls]
    assert [m["content"] for m in tool_messages] == [r.result for r in results]


@file_store
async def test_a_reply_is_events_with_its_model_steps_tokens_and_tools(agent_id: str) -> None:
    SERVER.script(agent_id, Reply(calls=[Call("add", {"a": 2, "b": 3})]), Reply(text="it is five"))
    await collect(get_agent(Assistant, agent_id).chat("what is two and three"))
    found = await agent_events(Assistant.type_name, agent_id)
    chat = [e for e in found["events"] if e["name"].startswith("chat:")]
    assert [e["name"] for e in chat] == ["chat:start", "chat:step", "chat:tool", "chat:step", "chat:done"]
    assert len({e["data"]["stream"] for e in chat}) == 1
    first, second = (e for e in chat if e["name"] == "chat:step")
    assert first["data"]["model"] == f"openai/{agent_id}" and first["data"]["tool_calls"] == 1
    assert second["data"]["output_tokens"] == 3 and second["data"]["input_tokens"] > 0  # the fake's usage
    tool_run = chat[2]
    assert (
        tool_run["data"] == {"stream": chat[0]["data"]["stream"], "tool": "add"}
        and tool_run["duration_s"] >= 0
    )
    assert chat[-1]["data"]["status"] == "complete"
    assert "two and three" not in json.dumps(found)  # no messages in events


@file_store
async def test_tool_loop_stops_at_the_step_limit(agent_id: str) -> None:
    SERVER.script(agent_id, *[Reply(calls=[Call("add", {"a": i, "b": 1})]) for i in range(5)])
    chunks = await collect(get_agent(Assistant, agent_id).chat("loop forever"))
    assert chunks[-1].status == "max_steps"
    assert len(SERVER.requests[agent_id]) == Assistant.max_steps
    assert [c.result for c in chunks if c.type == "tool_result"] == ["1", "2", "3"]


@file_store
async def test_mock_response_tool_calls_run_through_the_loop(agent_id: str) -> None:
    chunks = await collect(get_agent(MockedChat, agent_id).chat("2 + 3?"))
    assert [c.type for c in chunks if c.type != "text"] == ["start", "tool_call", "tool_result", "done"]
    assert text_of(chunks) == "the sum is 5"


@file_store
async def test_codemode_is_a_chat_tool(agent_id: str) -> None:
    SERVER.script(
        agent_id, Reply(calls=[Call("run_code", {"code": "await add(a=20, b=22)"})]), Reply(text="42")
    )
    chunks = await collect(get_agent(CodeModeAssistant, agent_id).chat("use code"))
    (result,) = [c for c in chunks if c.type == "tool_result"]
    assert not result.is_error and json.loads(result.result)["result"] == 42
    assert "add" in SERVER.requests[agent_id][0]["tools"][0]["function"]["description"]


# ---- history ---------------------------------------------------------------------------------


async def test_history_survives_sigkill_of_the_agent(agent_id: str) -> None:
    SERVER.script(agent_id, Reply(text="first answer"), Reply(text="second answer"))
    chat = get_agent(Assistant, agent_id)
    await collect(chat.chat("first"))
    os.kill((await chat.describe())["pid"], signal.SIGKILL)
    await collect(chat.chat("second"))
    expected = ["first", "first answer", "second"]
    assert [m["content"] for m in last_request(agent_id)[1:]] == expected
    assert [m["content"] for m in await chat.messages()] == [*expected, "second answer"]


@file_store
async def test_retention_keeps_the_newest_messages_and_stream_logs(agent_id: str) -> None:
    SERVER.script(agent_id, *[Reply(text=f"answer {i}") for i in range(3)])
    chat = get_agent(ForgetfulAssistant, agent_id)
    streams = [(await collect(chat.chat(f"question {i}")))[0].stream_id for i in range(3)]
    assert [m["content"] for m in await chat.messages()] == [
        "question 1",
        "answer 1",
        "question 2",
        "answer 2",
    ]
    with pytest.raises(UnknownStreamError):
        await collect(chat.resume(streams[0]))
    assert text_of(await collect(chat.resume(streams[1]))) == "answer 1"


# ---- approvals -------------------------------------------------------------------------------


async def _request_transfer(agent_id: str, cls: type[Assistant]) -> tuple[list[Chunk], str]:
    call = Call("transfer", {"amount": 5, "to": "bob"})
    SERVER.script(agent_id, Reply(text="Sending.", calls=[call]), Reply(text="all done"))
    chunks = await collect(get_agent(cls, agent_id).chat("pay bob 5"))
    return chunks, call.id


@file_store
async def test_approved_call_runs_after_the_agent_hibernated(runtime: str, agent_id: str) -> None:
    chunks, call_id = await _request_transfer(agent_id, SleepyAssistant)
    assert [c.type for c in chunks[-3:]] == ["tool_call", "approval_request", "done"]
    assert chunks[-1].status == "awaiting_approval" and chunks[-2].call_id == call_id
    chat = get_agent(SleepyAssistant, agent_id)
    assert [p["call_id"] for p in await chat.pending_approvals()] == [call_id]
    with pytest.raises(ApprovalPendingError):
        await collect(chat.chat("hello?"))
    info = await chat.describe()
    await eventually(lambda: hibernated(runtime, info))
    rest = await collect(chat.approve(call_id))
    assert rest[0].seq > chunks[-1].seq
    assert (rest[0].type, rest[0].result) == ("tool_result", "sent 5 to bob")
    assert text_of(rest) == "all done" and rest[-1].status == "complete"
    assert await chat.pending_approvals() == []
    assert len(SERVER.requests[agent_id]) == 2


@file_store
async def test_rejected_call_tells_the_model_why_even_after_sigkill(agent_id: str) -> None:
    _, call_id = await _request_transfer(agent_id, Assistant)
    chat = get_agent(Assistant, agent_id)
    os.kill((await chat.describe())["pid"], signal.SIGKILL)
    rest = await collect(chat.reject(call_id, "too expensive"))
    (result,) = [c for c in rest if c.type == "tool_result"]
    assert result.is_error and "rejected" in result.result and "too expensive" in result.result
    assert last_request(agent_id)[-1] == {"role": "tool", "tool_call_id": call_id, "content": result.result}
    with pytest.raises(Exception, match="no tool call"):
        await collect(chat.approve(call_id))


# ---- crashes, disconnects, concurrency -------------------------------------------------------


async def _stream_until_held(agent_id: str, held: Reply) -> tuple[asyncio.Task, list[Chunk]]:
    """Start `chat` and return once the fake model holds its reply mid-stream and the client
    has the text it sent before."""
    seen: list[Chunk] = []

    async def consume() -> None:
        async for chunk in get_agent(Assistant, agent_id).chat("tell me"):
            seen.append(chunk)

    async def sent_before_holding_arrived() -> bool:
        return sum(isinstance(c, Text) for c in seen) >= (held.hold_after or 0)

    task = asyncio.create_task(consume())
    await asyncio.to_thread(held.reached.wait, 30)
    assert held.reached.is_set()
    await eventually(sent_before_holding_arrived)  # under load the client may be behind
    return task, seen


@file_store
async def test_crash_mid_stream_is_redone_and_resumable(agent_id: str) -> None:
    held, _ = SERVER.script(
        agent_id, Reply(text="partial answer that dies", hold_after=2), Reply(text="fresh")
    )
    task, seen = await _stream_until_held(agent_id, held)
    chat = get_agent(Assistant, agent_id)

    async def text_arrived() -> bool:
        return len(seen) == 3  # start + two text deltas

    await eventually(text_arrived)
    os.kill((await chat.describe())["pid"], signal.SIGKILL)
    with pytest.raises(AgentUnavailableError):
        await task
    held.release.set()
    rest = await collect(chat.resume(seen[0].stream_id, after_seq=seen[-1].seq))
    rewind = rest[0]
    assert isinstance(rewind, Rewind) and rewind.to_seq == 1 and rewind.seq > seen[-1].seq
    assert text_of(rest) == "fresh" and rest[-1].status == "complete", rest
    assert [m["content"] for m in await chat.messages()] == ["tell me", "fresh"]


@file_store
async def test_cancelled_caller_can_resume_and_get_the_rest(agent_id: str) -> None:
    held, _ = SERVER.script(agent_id, Reply(text="one two three", hold_after=1), Reply(text="one two three"))
    task, seen = await _stream_until_held(agent_id, held)
    task.cancel()  # the client goes away mid-stream: its turn is cancelled and rolled back
    with pytest.raises(asyncio.CancelledError):
        await task
    held.release.set()
    chat = get_agent(Assistant, agent_id)
    rest = await collect(chat.resume(seen[0].stream_id, after_seq=seen[-1].seq))
    assert isinstance(rest[0], Rewind)
    assert text_of(rest) == "one two three" and rest[-1].status == "complete"
    replay = await collect(chat.resume(seen[0].stream_id))
    assert [c.seq for c in replay] == sorted({c.seq for c in replay})
    assert replay[-1] == rest[-1]


@file_store
async def test_new_message_closes_a_stream_whose_turn_died(agent_id: str) -> None:
    held, _ = SERVER.script(agent_id, Reply(text="never finished", hold_after=1), Reply(text="next"))
    task, seen = await _stream_until_held(agent_id, held)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    held.release.set()
    chat = get_agent(Assistant, agent_id)
    assert text_of(await collect(chat.chat("something else"))) == "next"
    closed = await collect(chat.resume(seen[0].stream_id, after_seq=seen[-1].seq))
    assert [c.type for c in closed] == ["rewind", "done"] and closed[-1].status == "interrupted"
    assert closed[0].seq > seen[-1].seq
    assert [m["content"] for m in await chat.messages()] == ["tell me", "something else", "next"]


@file_store
async def test_second_message_waits_for_the_streaming_turn(agent_id: str) -> None:
    held, _ = SERVER.script(agent_id, Reply(text="first reply in full", hold_after=1), Reply(text="second"))
    first, _ = await _stream_until_held(agent_id, held)
    second = asyncio.create_task(collect(get_agent(Assistant, agent_id).chat("and another")))
    await asyncio.sleep(0.5)  # give the second call every chance to overtake (it must not)
    assert len(SERVER.requests[agent_id]) == 1 and not second.done()
    held.release.set()
    await first
    second_chunks = await second
    assert text_of(second_chunks) == "second"
    assert [m["content"] for m in last_request(agent_id)[1:]] == [
        "tell me",
        "first reply in full",
        "and another",
    ]
