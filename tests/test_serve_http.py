"""HTTP through the Serve ingress: RPC with typed errors, on_request, the auth gate, streaming."""

from __future__ import annotations

import asyncio
import json

import pytest

from agents import InvalidArgumentsError, NotCallableError, UnknownMethodError, get_agent, list_agents
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
    for not_an_int in ("0", False):  # strict validation: one rule for every caller
        with pytest.raises(InvalidArgumentsError, match="valid integer"):
            await asyncio.to_thread(call, served, "tally", agent_id, "add", not_an_int)
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


async def test_a_request_the_agent_makes_read_only_cannot_write_over_http(served: str, agent_id: str) -> None:
    """`should_be_readonly` decides for HTTP as for sockets: RPCs, streams and `on_request`."""
    assert await asyncio.to_thread(call, served, "tally", agent_id, "add", 2) == 2
    for path, refused in (("/rpc/add", [1]), ("/rpc/ticks", [2]), ("/bump", {})):
        url = agent_url(served, "tally", agent_id, f"{path}?readonly=1")
        status, _, body = await http(url, "POST", refused)
        assert status == 403 and json.loads(body)["error"]["code"] == "read_only", (path, body)
    status, _, body = await http(agent_url(served, "tally", agent_id, "/rpc/get?readonly=1"), "POST", [])
    assert status == 200 and json.loads(body)["count"] == 2
    status, _, body = await http(agent_url(served, "tally", agent_id, "/hello?readonly=1"))
    assert status == 200
    status, _, body = await http(agent_url(served, "tally", agent_id, "/bump"), "POST", {})
    assert (status, json.loads(body)) == (200, {"count": 3})  # the same route, not read-only
    assert (await get_agent(Tally, agent_id).get())["count"] == 3


async def test_streaming_method_over_http_is_ndjson(served: str, agent_id: str) -> None:
    status, headers, body = await http(agent_url(served, "tally", agent_id, "/rpc/ticks"), "POST", [3])
    assert status == 200 and headers["content-type"].startswith("application/x-ndjson")
    assert [json.loads(line) for line in body.splitlines()] == [0, 1, 2]


async def test_ids_with_slashes_travel_escaped(served: str, agent_id: str) -> None:
    weird = f"{agent_id}/x y"
    assert await asyncio.to_thread(call, served, "tally", weird, "add", 4) == 4
    assert (await get_agent(Tally, weird).get())["count"] == 4
    assert (await get_agent(Tally, agent_id).get())["count"] == 0


async def test_an_id_that_is_not_utf8_once_decoded_is_refused(served: str, agent_id: str) -> None:
    """`%FF`, `%FE` and `%C0%AE` would all decode to U+FFFD, one agent."""
    for raw in ("%FF", "%FE", "%C0%AE"):
        status, _, body = await http(f"{served}/agents/tally/{agent_id}{raw}/rpc/add", "POST", [1])
        assert status == 400 and json.loads(body)["error"]["code"] == "invalid_agent_id", raw
    status, _, _ = await http(f"{served}/agents/tally/{agent_id}%C3%A9/rpc/add", "POST", [1])
    assert status == 200
    assert (await get_agent(Tally, f"{agent_id}\u00e9").get())["count"] == 1


async def test_a_body_over_the_limit_is_refused_before_any_agent_is_reached(
    served: str, agent_id: str
) -> None:
    import httpx

    url = agent_url(served, "tally", agent_id, "/rpc/add")
    status, _, body = await http(url, "POST", b"[" + b" " * (2 << 20) + b"1]")
    error = json.loads(body)["error"]
    assert (status, error["code"]) == (413, "request_too_large")
    assert "limit of 1048576 bytes" in error["message"]

    async def chunks():  # no Content-Length: counted as it streams in
        for _ in range(40):
            yield b" " * 65536

    async with httpx.AsyncClient() as client:
        response = await client.post(url, content=chunks())
    assert response.status_code == 413 and response.json()["error"]["code"] == "request_too_large"
    described = await list_agents()
    assert f"tally/{agent_id}" not in described["live"]
    assert ["tally", agent_id] not in [list(k) for k in described["hibernated"]]
    assert await asyncio.to_thread(call, served, "tally", agent_id, "add", 1) == 1  # a body in bounds
    assert f"tally/{agent_id}" in (await list_agents())["live"]


async def test_a_stream_that_fails_before_its_first_item_gets_the_error_status(
    served: str, agent_id: str
) -> None:
    url = agent_url(served, "assistant", agent_id, "/rpc/resume")
    status, _, body = await http(url, "POST", ["no-such-stream"])
    assert status == 404
    assert json.loads(body)["error"] == {"code": "unknown_stream", "message": "no stream 'no-such-stream'"}


async def test_a_body_nested_past_the_decoders_depth_is_invalid_arguments(served: str, agent_id: str) -> None:
    url = agent_url(served, "tally", agent_id, "/rpc/add")
    status, _, body = await http(url, "POST", b"[" * 20_000 + b"]" * 20_000)
    assert status == 422 and json.loads(body)["error"]["code"] == "invalid_arguments"
