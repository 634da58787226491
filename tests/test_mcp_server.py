"""Agents' MCP endpoints, through the session's Serve app, with the official Python SDK's client:
tools described from type hints, calls as ordinary turns, bad input refused, the state as a
resource and prompts declared on the class."""

from __future__ import annotations

import json
import re
from urllib.parse import quote

import httpx
import mcp_types as types
import pytest
from mcp.shared.exceptions import MCPError

from agents import UnknownMethodError, get_agent
from agents.http import agent_url
from tests.agents_for_mcp import McpUser
from tests.agents_for_serve import Toolbox
from tests.mcp_clients import mcp_session


def endpoint(served: str, agent_id: str, query: str = "") -> str:
    return agent_url(served, "toolbox", agent_id, "/mcp") + query


async def count(agent_id: str) -> int:
    return (await get_agent(Toolbox, agent_id).get())["count"]


async def test_tools_are_the_mcp_methods_described_by_their_hints(served: str, agent_id: str) -> None:
    async with mcp_session(endpoint(served, agent_id)) as session:
        tools = {t.name: t for t in (await session.list_tools()).tools}
    assert sorted(tools) == ["add", "count_to", "fail", "get", "write"]  # not `reset`: RPC only
    add = tools["add"]
    assert add.description == "Add n to the count; returns the new count."
    assert add.input_schema == {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {"n": {"type": "integer"}},
        "required": ["n"],
        "additionalProperties": False,
    }
    assert add.output_schema == {
        "type": "object",
        "properties": {"result": {"type": "integer"}},
        "required": ["result"],
    }
    assert tools["write"].input_schema["properties"]["tags"] == {
        "type": "array",
        "items": {"type": "string"},
        "default": [],
    }
    assert tools["write"].output_schema["required"] == ["text", "tags"]  # a model: the object itself
    assert tools["get"].annotations.read_only_hint and not add.annotations.read_only_hint


async def test_a_tool_call_is_a_turn_whose_state_lasts(served: str, agent_id: str) -> None:
    async with mcp_session(endpoint(served, agent_id)) as session:
        added = await session.call_tool("add", {"n": 5})
        note = await session.call_tool("write", {"text": "hi", "tags": ["a"]})
    assert not added.is_error and added.structured_content == {"result": 5}
    assert added.content[0].text == "5"
    assert note.structured_content == {"text": "hi", "tags": ["a"]}
    state = await get_agent(Toolbox, agent_id).get()  # a fresh handle: what the agent kept
    assert state == {"count": 5, "notes": [{"text": "hi", "tags": ["a"]}]}


async def test_a_failing_tool_is_an_error_result_and_rolled_back(served: str, agent_id: str) -> None:
    async with mcp_session(endpoint(served, agent_id)) as session:
        await session.call_tool("add", {"n": 1})
        failed = await session.call_tool("fail", {"n": 3})
        assert failed.is_error
        assert failed.content[0].text == "exception: ValueError: failed after adding 3"
        assert (await session.call_tool("add", {"n": 1})).structured_content == {"result": 2}
    assert await count(agent_id) == 2


async def test_unknown_tools_are_json_rpc_errors(served: str, agent_id: str) -> None:
    async with mcp_session(endpoint(served, agent_id)) as session:
        for name in ("nope", "reset"):  # `reset` is callable, but not offered over MCP
            with pytest.raises(MCPError, match=f"Unknown tool: {name}") as raised:
                await session.call_tool(name, {})
            assert raised.value.code == types.INVALID_PARAMS
        assert (await session.call_tool("add", {"n": 1})).structured_content == {"result": 1}


async def test_bad_arguments_are_refused_and_change_nothing(served: str, agent_id: str) -> None:
    async with mcp_session(endpoint(served, agent_id)) as session:
        for arguments in ({"n": "5"}, {"n": True}, {}, {"n": 1, "m": 2}):  # strict, as RPC
            refused = await session.call_tool("add", arguments)
            assert refused.is_error and refused.content[0].text.startswith("invalid_arguments: add()")
        assert (await session.call_tool("add", {"n": 1})).structured_content == {"result": 1}
    assert await count(agent_id) == 1


async def test_a_stream_reports_each_item_as_progress_and_returns_them(served: str, agent_id: str) -> None:
    progress: list[tuple[float, str | None]] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append((done, message))

    async with mcp_session(endpoint(served, agent_id)) as session:
        counted = await session.call_tool("count_to", {"n": 3}, progress_callback=on_progress)
    assert counted.structured_content == {"result": [1, 2, 3]}
    assert progress == [(1, "1"), (2, "2"), (3, "3")]
    assert await count(agent_id) == 3


async def test_the_agents_hooks_judge_mcp_requests(served: str, agent_id: str) -> None:
    async with mcp_session(endpoint(served, agent_id), {"authorization": "Bearer bad"}) as session:
        refused = await session.call_tool("add", {"n": 1})  # validate_request
    assert refused.is_error and refused.content[0].text == "rejected: bad token"
    async with mcp_session(endpoint(served, agent_id, "?readonly=1")) as session:
        refused = await session.call_tool("add", {"n": 1})  # should_be_readonly
        assert refused.is_error and refused.content[0].text.startswith("read_only:")
        read = await session.call_tool("get", {})
    assert read.structured_content == {"count": 0, "notes": []}


async def test_malformed_and_oversized_requests_get_json_rpc_errors(served: str, agent_id: str) -> None:
    headers = {"accept": "application/json, text/event-stream", "content-type": "application/json"}
    async with httpx.AsyncClient(timeout=60) as http:
        response = await http.post(endpoint(served, agent_id), content=b"{not json", headers=headers)
        assert response.status_code == 400 and response.json()["error"]["code"] == types.PARSE_ERROR
        big = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "ping", "params": {"x": "x" * (1 << 20)}})
        response = await http.post(endpoint(served, agent_id), content=big, headers=headers)
        assert response.status_code == 413
        assert response.json()["error"]["code"] == types.INVALID_REQUEST
        assert "request_too_large" in response.json()["error"]["message"]
        ping = {"jsonrpc": "2.0", "id": 2, "method": "ping"}
        rebound = {**headers, "origin": "http://evil.example"}  # a page: DNS rebinding protection
        response = await http.post(endpoint(served, agent_id), json=ping, headers=rebound)
        assert (
            response.status_code == 403
            and "origin http://evil.example" in response.json()["error"]["message"]
        )
        for local in ("http://localhost:5173", "http://127.0.0.1", "http://[::1]:8080"):  # this machine
            response = await http.post(
                endpoint(served, agent_id), json=ping, headers={**headers, "origin": local}
            )
            assert response.status_code == 200, local
    async with mcp_session(endpoint(served, agent_id)) as session:
        assert (await session.call_tool("add", {"n": 1})).structured_content == {"result": 1}


async def test_classes_without_mcp_tools_keep_their_mcp_path(served: str, agent_id: str) -> None:
    async with httpx.AsyncClient(timeout=60) as http:
        response = await http.post(agent_url(served, "tally", agent_id, "/mcp"), json={})
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"  # on_request


def state_uri(agent_id: str) -> str:
    return f"agent://toolbox/{quote(agent_id, safe='')}/state"


async def test_the_state_is_a_resource_read_through_the_agent(served: str, agent_id: str) -> None:
    async with mcp_session(endpoint(served, agent_id)) as session:
        assert session.server_capabilities.resources is not None
        (state,) = (await session.list_resources()).resources
        assert (str(state.uri), state.name) == (state_uri(agent_id), "state")
        assert state.mime_type == "application/json"
        await session.call_tool("add", {"n": 4})
        read = await session.read_resource(state_uri(agent_id))
        assert json.loads(read.contents[0].text) == {"count": 4, "notes": []}
        with pytest.raises(MCPError, match="Unknown resource") as raised:
            await session.read_resource("agent://toolbox/someone-else/state")
        assert raised.value.code == types.INVALID_PARAMS
    async with mcp_session(endpoint(served, agent_id), {"authorization": "Bearer bad"}) as session:
        with pytest.raises(MCPError, match="rejected: bad token"):  # validate_request
            await session.read_resource(state_uri(agent_id))


async def test_prompts_are_listed_from_their_signatures(served: str, agent_id: str) -> None:
    async with mcp_session(endpoint(served, agent_id)) as session:
        listed = {p.name: p for p in (await session.list_prompts()).prompts}
    assert sorted(listed) == ["review", "scribble"]
    review = listed["review"]
    assert review.description == "Ask for a review of the notes."
    assert [(a.name, a.required) for a in review.arguments] == [("focus", True), ("tone", False)]


async def test_a_prompt_reads_the_agents_state(served: str, agent_id: str) -> None:
    async with mcp_session(endpoint(served, agent_id)) as session:
        await session.call_tool("write", {"text": "milk"})
        await session.call_tool("add", {"n": 2})
        got = await session.get_prompt("review", {"focus": "typos"})
    assert [(m.role, m.content.text) for m in got.messages] == [
        ("user", "Review my notes (milk) for typos, in a plain tone."),
        ("assistant", "The count is 2."),
    ]
    assert got.description == "Ask for a review of the notes."


async def test_missing_arguments_and_unknown_prompts_are_invalid_params(served: str, agent_id: str) -> None:
    async with mcp_session(endpoint(served, agent_id)) as session:
        for name, arguments, message in (
            ("review", {}, "invalid_arguments: review()"),
            ("nope", {}, "Unknown prompt: nope"),
            ("add", {"n": "1"}, "Unknown prompt: add"),  # a tool is no prompt
        ):
            with pytest.raises(MCPError, match=re.escape(message)) as raised:
                await session.get_prompt(name, arguments)
            assert raised.value.code == types.INVALID_PARAMS
    assert await count(agent_id) == 0


async def test_a_prompt_that_writes_fails_and_changes_nothing(served: str, agent_id: str) -> None:
    async with mcp_session(endpoint(served, agent_id)) as session:
        await session.call_tool("add", {"n": 1})
        with pytest.raises(MCPError, match="read_only:") as raised:
            await session.get_prompt("scribble")
        assert raised.value.code == types.INTERNAL_ERROR
    assert await count(agent_id) == 1


async def test_prompts_are_not_rpc_methods(served: str, agent_id: str) -> None:
    async with httpx.AsyncClient(timeout=60) as http:
        response = await http.post(agent_url(served, "toolbox", agent_id, "/rpc/review"), json={"focus": "x"})
    assert response.status_code == 404 and response.json()["error"]["code"] == "unknown_method"
    with pytest.raises(UnknownMethodError):
        await get_agent(Toolbox, agent_id).review(focus="x")


async def test_a_class_with_only_a_prompt_has_an_endpoint(served: str, agent_id: str) -> None:
    async with mcp_session(agent_url(served, "greeter", agent_id, "/mcp")) as session:
        capabilities = session.server_capabilities
        assert capabilities.prompts is not None
        assert capabilities.tools is None and capabilities.resources is None  # no flag: no state resource
        got = await session.get_prompt("greet", {"name": "Ada"})
    (message,) = got.messages
    assert (message.role, message.content.text) == ("user", f"Say hello to Ada from {agent_id}.")


async def test_an_agent_is_an_mcp_client_of_another_agent(served: str, agent_id: str) -> None:
    """`self.mcp` of one agent against the endpoint of another: tools, the state, a prompt."""
    user = get_agent(McpUser, f"client-of-{agent_id}")
    await user.add_server("box", endpoint(served, agent_id))
    assert "box/add" in await user.tool_names("box")
    assert (await user.call("box", "add", {"n": 2}))["structured"] == {"result": 2}
    assert await count(agent_id) == 2
    (state,) = await user.read("box", f"agent://toolbox/{agent_id}/state")
    assert json.loads(state["text"])["count"] == 2
    prompt = await user.prompt("box", "review", {"focus": "typos"})
    assert "for typos, in a plain tone" in prompt["messages"][0]["content"]["text"]
