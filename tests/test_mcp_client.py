"""`self.mcp` against the MCP reference server (`@modelcontextprotocol/server-everything`, a real
node subprocess): registrations that survive SIGKILL and hibernation, tools, resources, prompts,
typed refusals, and servers that die, hang or speak malformed JSON-RPC; then chat and Code Mode."""

from __future__ import annotations

import os
import re
import signal
from collections.abc import Iterator

import pytest

from agents import get_agent
from agents.chat.mcp import MAX_NAME, chat_name
from agents.errors import (
    InvalidMcpArgumentsError,
    InvalidMcpServerError,
    McpArgumentsTooLargeError,
    McpCallFailedError,
    McpProtocolError,
    McpServerExistsError,
    McpServerUnavailableError,
    McpTimeoutError,
    UnknownMcpServerError,
    UnknownMcpToolError,
)
from tests.agents_for_chat import FAKE_LLM_URL
from tests.agents_for_mcp import McpAssistant, McpUser, SleepyMcpUser
from tests.cluster_view import hibernated
from tests.conftest import free_port
from tests.fake_llm import Call, Reply, shared
from tests.mcp_server import EverythingServer, everything, malformed_server
from tests.waiting import eventually

# Started at collection, before the session's ray.init, so agent processes inherit its URL.
LLM = shared(FAKE_LLM_URL)

pytestmark = [
    pytest.mark.usefixtures("runtime"),
    pytest.mark.parametrize("store_url", ["file"], indirect=True),
]


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    """One reference server for the tests that do not harm it."""
    with everything(free_port()) as server:
        yield server.url


@pytest.fixture
def own_server() -> Iterator[EverythingServer]:
    """A reference server of this test's own, to kill or stop."""
    with everything(free_port()) as server:
        yield server


# ---- registrations -------------------------------------------------------------------------


async def test_registration_survives_sigkill_of_the_agent(agent_id: str, server_url: str) -> None:
    agent = get_agent(McpUser, agent_id)
    await agent.add_server("ev", server_url, {"X-Api-Key": "secret-value"})
    os.kill((await agent.describe())["pid"], signal.SIGKILL)
    assert await agent.servers() == [
        {"name": "ev", "url": server_url, "header_names": ("X-Api-Key",), "redirect_uri": None}
    ]
    assert (await agent.call("ev", "echo", {"message": "after the crash"}))["text"] == "Echo: after the crash"


async def test_registration_survives_hibernation(runtime: str, agent_id: str, server_url: str) -> None:
    agent = get_agent(SleepyMcpUser, agent_id)
    await agent.add_server("ev", server_url)
    info = await agent.describe()
    await eventually(lambda: hibernated(runtime, info))
    assert "ev/echo" in await agent.tool_names("ev")


async def test_a_failed_turn_takes_its_registration_with_it(agent_id: str, server_url: str) -> None:
    agent = get_agent(McpUser, agent_id)
    with pytest.raises(RuntimeError, match="the turn fails"):
        await agent.add_server_then_fail("ev", server_url)
    assert await agent.servers() == []


async def test_names_and_urls_are_refused_with_typed_errors(agent_id: str, server_url: str) -> None:
    agent = get_agent(McpUser, agent_id)
    await agent.add_server("ev", server_url)
    with pytest.raises(McpServerExistsError, match="'ev' is registered already"):
        await agent.add_server("ev", server_url)
    for name, url in [("a__b", server_url), ("", server_url), ("ok", "ftp://x/"), ("ok", "http://u:p@h/")]:
        with pytest.raises(InvalidMcpServerError):
            await agent.add_server(name, url)
    with pytest.raises(UnknownMcpServerError, match="no MCP server named 'nope'"):
        await agent.tool_names("nope")
    with pytest.raises(UnknownMcpServerError):
        await agent.remove_server("nope")
    await agent.remove_server("ev")
    assert await agent.servers() == []


async def test_header_values_are_never_shown(agent_id: str, server_url: str) -> None:
    agent = get_agent(McpUser, agent_id)
    await agent.add_server("ev", server_url, {"Authorization": "Bearer hunter2"})
    assert "hunter2" not in repr(await agent.servers())
    assert "hunter2" not in repr(await agent.describe())


# ---- tools, resources, prompts -------------------------------------------------------------


async def test_tools_resources_and_prompts(agent_id: str, server_url: str) -> None:
    agent = get_agent(McpUser, agent_id)
    await agent.add_server("ev", server_url)
    assert {"ev/echo", "ev/get-sum"} <= set(await agent.tool_names())
    assert (await agent.call("ev", "get-sum", {"a": 2, "b": 40}))["text"] == "The sum of 2 and 40 is 42."
    (document,) = await agent.read("ev", "demo://resource/static/document/architecture.md")
    assert document["mimeType"] == "text/markdown" and "Architecture" in document["text"]
    prompt = await agent.prompt("ev", "args-prompt", {"city": "Paris"})
    assert "Paris" in prompt["messages"][0]["content"]["text"]
    assert await agent.calls() == 1


async def test_bad_calls_are_typed_errors_and_change_nothing(agent_id: str, server_url: str) -> None:
    agent = get_agent(McpUser, agent_id)
    await agent.add_server("ev", server_url)
    with pytest.raises(UnknownMcpToolError, match="has no tool 'nope'"):
        await agent.call("ev", "nope", {})
    with pytest.raises(InvalidMcpArgumentsError, match="a: 'two' is not of type 'number'"):
        await agent.call("ev", "get-sum", {"a": "two", "b": 1})
    with pytest.raises(InvalidMcpArgumentsError, match="'b' is a required property"):
        await agent.call("ev", "get-sum", {"a": 1})
    with pytest.raises(InvalidMcpArgumentsError, match="mapping of names to values"):
        await agent.call("ev", "echo", ["positional"])
    with pytest.raises(McpArgumentsTooLargeError, match="mcp_max_argument_bytes"):
        await agent.call("ev", "echo", {"message": "x" * 5000})
    with pytest.raises(McpCallFailedError, match="not found"):
        await agent.read("ev", "demo://no/such/resource")
    assert await agent.calls() == 0  # every failed call's turn was rolled back


# ---- servers that fail ---------------------------------------------------------------------


async def test_a_killed_server_is_a_clear_error_and_the_agent_keeps_serving(
    agent_id: str, own_server: EverythingServer, server_url: str
) -> None:
    agent = get_agent(McpUser, agent_id)
    await agent.add_server("doomed", own_server.url)
    await agent.add_server("ev", server_url)
    assert (await agent.call("doomed", "echo", {"message": "hi"}))["text"] == "Echo: hi"
    own_server.kill()
    with pytest.raises(McpServerUnavailableError, match="MCP server 'doomed' is unreachable"):
        await agent.call("doomed", "echo", {"message": "hi"})
    assert (await agent.call("ev", "echo", {"message": "still here"}))["text"] == "Echo: still here"
    assert await agent.calls() == 2


async def test_a_hanging_server_times_out(agent_id: str, own_server: EverythingServer) -> None:
    agent = get_agent(McpUser, agent_id)
    await agent.add_server("stuck", own_server.url)
    own_server.signal(signal.SIGSTOP)  # accepts connections (the kernel does), never answers
    with pytest.raises(McpTimeoutError, match=r"'stuck' did not answer within 3 s"):
        await agent.call("stuck", "echo", {"message": "hi"})
    assert await agent.calls() == 0


async def test_malformed_json_rpc_is_a_protocol_error(agent_id: str) -> None:
    agent = get_agent(McpUser, agent_id)
    with malformed_server() as url:
        await agent.add_server("garbled", url)
        with pytest.raises(McpProtocolError, match="'garbled' sent an invalid message"):
            await agent.tool_names("garbled")
    assert await agent.servers() == [
        {"name": "garbled", "url": url, "header_names": (), "redirect_uri": None}
    ]


# ---- Code Mode -----------------------------------------------------------------------------


async def test_code_mode_calls_mcp_tools(agent_id: str, server_url: str) -> None:
    agent = get_agent(McpUser, agent_id)
    await agent.add_server("ev", server_url)
    code = 'a = await get_sum(a=1, b=2)\nb = await echo(message="hi")\n[a, b]'
    assert await agent.program("ev", code) == {
        "result": ["The sum of 1 and 2 is 3.", "Echo: hi"],
        "error": None,
    }
    refused = await agent.program("ev", 'await get_sum(a="one", b=2)')  # its schema became a stub
    assert "type check failed" in refused["error"] and "get_sum" in refused["error"]


# ---- chat ----------------------------------------------------------------------------------


async def test_chat_model_sees_and_calls_mcp_tools(agent_id: str, server_url: str) -> None:
    chat = get_agent(McpAssistant, agent_id)
    await chat.add_server("ev", server_url)
    LLM.script(agent_id, Reply(calls=[Call("ev__echo", {"message": "hi"})]), Reply(text="it echoed"))
    chunks = [chunk async for chunk in chat.chat("echo hi")]
    offered = {t["function"]["name"] for t in LLM.requests[agent_id][0]["tools"]}
    assert {"ev__echo", "ev__get-sum"} <= offered
    (result,) = [c for c in chunks if c.type == "tool_result"]
    assert (result.result, result.is_error) == ("Echo: hi", False)
    assert chunks[-1].status == "complete"


async def test_chat_mcp_tool_waits_for_approval(agent_id: str, server_url: str) -> None:
    chat = get_agent(McpAssistant, agent_id)
    await chat.add_server("ev", server_url)
    call = Call("ev__get-sum", {"a": 1, "b": 2})
    LLM.script(agent_id, Reply(calls=[call]), Reply(text="three"))
    paused = [chunk async for chunk in chat.chat("add 1 and 2")]
    assert [c.type for c in paused[-2:]] == ["approval_request", "done"]
    assert paused[-1].status == "awaiting_approval"
    assert [p["name"] for p in await chat.pending_approvals()] == ["ev__get-sum"]
    rest = [chunk async for chunk in chat.approve(call.id)]
    (result,) = [c for c in rest if c.type == "tool_result"]
    assert result.result == "The sum of 1 and 2 is 3." and rest[-1].status == "complete"


def test_chat_names_fit_model_apis() -> None:
    """A model API refuses a request whose function names exceed 64 characters or use others
    than `[A-Za-z0-9_-]`: one long MCP tool name would break every chat step."""
    assert chat_name("ev", "get-sum") == "ev__get-sum"
    assert chat_name("ev", "get.sum/v2") == "ev__get_sum_v2"
    long_a, long_b = chat_name("files", "x" * 80 + "a"), chat_name("files", "x" * 80 + "b")
    assert len(long_a) == len(long_b) == MAX_NAME == 64
    assert long_a != long_b and long_a.startswith("files__xxx")
    assert chat_name("files", "x" * 80 + "a") == long_a  # the same every step
    assert all(re.fullmatch(r"[A-Za-z0-9_-]+", name) for name in (long_a, long_b))
