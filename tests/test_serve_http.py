"""HTTP through the Serve ingress: RPC with typed errors, on_request, the auth gate, streaming."""

from __future__ import annotations

import asyncio
import json

import pytest

from agents import InvalidArgumentsError, NotCallableError, UnknownMethodError, get_agent
from agents.client import CallError
from agents.http import agent_url, call, request
from tests.agents_for_serve import Tally


def http(*args, **kwargs):
    return asyncio.to_thread(request, *args, **kwargs)


async def test_http_rpc_returns_results_and_typed_errors(served: str, agent_id: str) -> None:
    assert await asyncio.to_thread(call, served, "tally", agent_id, "add", 5) == 5
    assert await asyncio.to_thread(call, served, "tally", agent_id, "add", n=2) == 7
    with pytest.raises(InvalidArgumentsError, match="valid integer"):
        await asyncio.to_thread(call, served, "tally", agent_id, "add", "five")
    with pytest.raises(UnknownMethodError):
        await asyncio.to_thread(call, served, "tally", agent_id, "nope")
    with pytest.raises(NotCallableError):
        await asyncio.to_thread(call, served, "tally", agent_id, "on_request")
    with pytest.raises(CallError, match="KeyError") as raised:
        await asyncio.to_thread(call, served, "tally", agent_id, "fail")
    assert raised.value.status == 500
    assert (await get_agent(Tally, agent_id).get())["count"] == 7


async def test_http_errors_have_status_and_json_body(served: str, agent_id: str) -> None:
    status, _, body = await http(agent_url(served, "tally", agent_id, "/rpc/add"), "POST", b"{not json")
    assert status == 422 and json.loads(body)["error"]["code"] == "invalid_arguments"
    status, _, body = await http(agent_url(served, "nobody", agent_id, "/rpc/add"), "POST", [1])
    assert status == 404 and json.loads(body)["error"]["code"] == "unknown_agent_class"


async def test_other_requests_go_to_on_request(served: str, agent_id: str) -> None:
    status, _, body = await http(agent_url(served, "tally", agent_id, "/hello"))
    assert (status, body) == (200, f"hello {agent_id} via GET".encode())
    status, headers, body = await http(agent_url(served, "tally", agent_id, "/echo"), "POST", {"a": 1})
    assert status == 201 and json.loads(body) == {"got": {"a": 1}, "count": 0}
    assert headers["content-type"] == "application/json"
    status, _, body = await http(agent_url(served, "tally", agent_id, "/missing"))
    assert status == 404 and json.loads(body)["error"]["code"] == "not_found"


async def test_validate_request_rejects_with_its_status(served: str, agent_id: str) -> None:
    status, _, body = await http(agent_url(served, "tally", agent_id, "/hello?token=bad"))
    assert status == 401 and json.loads(body)["error"] == {"code": "rejected", "message": "bad token"}
    status, _, _ = await http(agent_url(served, "tally", agent_id, "/rpc/add?token=bad"), "POST", [1])
    assert status == 401
    assert (await get_agent(Tally, agent_id).get())["count"] == 0


async def test_streaming_method_over_http_is_ndjson(served: str, agent_id: str) -> None:
    status, headers, body = await http(agent_url(served, "tally", agent_id, "/rpc/ticks"), "POST", [3])
    assert status == 200 and headers["content-type"].startswith("application/x-ndjson")
    assert [json.loads(line) for line in body.splitlines()] == [0, 1, 2]


async def test_ids_with_slashes_travel_escaped(served: str, agent_id: str) -> None:
    weird = f"{agent_id}/x y"
    assert await asyncio.to_thread(call, served, "tally", weird, "add", 4) == 4
    assert (await get_agent(Tally, weird).get())["count"] == 4
    assert (await get_agent(Tally, agent_id).get())["count"] == 0
