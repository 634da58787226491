"""What the ingress answers itself, before any agent is activated: the app's gate
(`on_before_request` / `on_before_connect`), CORS preflights, and requests no handler can take."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import websockets

from agents import Agent, list_agents
from agents.errors import AgentError
from cluster.config import RuntimeConfig
from cluster.naming import agent_key
from examples.app import Counter
from tests.agents_for_serve import (
    GATE_TOKEN,
    GATED,
    GATED_ORIGIN,
    Guarded,
    Tally,
    Toolbox,
    async_bearer_gate,
    bearer_gate,
)
from tests.mcp_clients import mcp_session

AUTH = {"authorization": f"Bearer {GATE_TOKEN}"}


@pytest.fixture(scope="module")
def gated_url(serve_url: str, file_store_url: str) -> Iterator[str]:
    """A second application on the same Serve instance, built with the gate and CORS."""
    from ray import serve

    from serve.app import build_app
    from serve.cors import Cors

    app = build_app(
        GATED,
        runtime=RuntimeConfig(namespace="t-serve", store_url=file_store_url),
        on_before_request=bearer_gate,
        on_before_connect=async_bearer_gate,
        cors=Cors(origins=[GATED_ORIGIN], credentials=True),
    )
    serve.run(app, name="gated", route_prefix="/gated")
    yield f"{serve_url}/gated"
    serve.delete("gated")


@pytest.fixture
async def gated(gated_url: str, served: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=gated_url, timeout=60) as client:
        yield client


@pytest.fixture
async def plain(served: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=served, timeout=60) as client:
        yield client


async def exists(agent_cls: type[Agent], agent_id: str) -> bool:
    """Whether the agent is live or has a checkpoint (was ever activated)."""
    described = await list_agents()
    key = agent_key(agent_cls.type_name, agent_id)
    stored = {tuple(k) for k in described["hibernated"]}
    return key in described["live"] or (agent_cls.type_name, agent_id) in stored


def path(agent_cls: type[Agent], agent_id: str, rest: str = "") -> str:
    return f"/agents/{agent_cls.type_name}/{agent_id}{rest}"


def ws(base: str, agent: str, agent_id: str, query: str = "") -> str:
    return f"{base.replace('http', 'ws', 1)}/agents/{agent}/{agent_id}" + (f"?{query}" if query else "")


async def closed_with(url: str, **options: object) -> tuple[int, str]:
    """Connect and read until the server closes the socket; its close code and reason."""
    async with websockets.connect(url, **options) as socket:
        with pytest.raises(websockets.ConnectionClosed) as closed:
            while True:
                await asyncio.wait_for(socket.recv(), 30)
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code, closed.value.rcvd.reason


def error_of(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


# ---- the gate ----------------------------------------------------------------------------------


async def test_the_gate_refuses_before_any_agent_is_looked_up_or_activated(
    gated: httpx.AsyncClient, gated_url: str, agent_id: str
) -> None:
    response = await gated.post(path(Guarded, agent_id, "/rpc/add"), json=[1])
    assert error_of(response) == (401, "rejected")
    assert response.json()["error"]["message"] == "missing or bad bearer token"
    wrong = {"authorization": "Bearer nope"}
    assert (await gated.get(path(Guarded, agent_id, "/whoami"), headers=wrong)).status_code == 401
    assert (await gated.post(f"/agents/nobody/{agent_id}/rpc/add")).status_code == 401  # no probing
    teapot_token = {"authorization": "Bearer teapot"}
    teapot = await gated.post(path(Guarded, agent_id, "/rpc/add"), json=[1], headers=teapot_token)
    assert (teapot.status_code, teapot.text) == (418, "short and stout")  # the hook's own Response
    assert await closed_with(ws(gated_url, "guarded", agent_id)) == (4401, "missing or bad bearer token")
    assert await closed_with(ws(gated_url, "guarded", agent_id, "token=teapot")) == (4418, "short and stout")
    assert not await exists(Guarded, agent_id)

    response = await gated.post(path(Guarded, agent_id, "/rpc/add"), json=[2], headers=AUTH)
    assert (response.status_code, response.json()) == (200, 2)
    assert await exists(Guarded, agent_id)


async def test_what_the_gate_returns_reaches_the_agent_and_clients_cannot_forge_it(
    gated: httpx.AsyncClient, gated_url: str, agent_id: str
) -> None:
    forged = {**AUTH, "x-user": "admin"}
    response = await gated.get(path(Guarded, agent_id, "/whoami"), headers=forged)
    assert response.json() == {"user": f"holder of guarded/{agent_id}"}
    async with websockets.connect(ws(gated_url, "guarded", agent_id, f"token={GATE_TOKEN}")) as socket:
        messages = [json.loads(await asyncio.wait_for(socket.recv(), 30)) for _ in range(3)]
    assert {"user": f"holder of guarded/{agent_id}"} in messages  # on_connect saw it too


async def test_the_gate_runs_before_mcp_endpoints_too(
    gated: httpx.AsyncClient, gated_url: str, agent_id: str
) -> None:
    listing = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    assert error_of(await gated.post(path(Toolbox, agent_id, "/mcp"), json=listing)) == (401, "rejected")
    assert not await exists(Toolbox, agent_id)
    async with mcp_session(gated_url + path(Toolbox, agent_id, "/mcp"), AUTH) as session:
        assert (await session.call_tool("add", {"n": 2})).structured_content == {"result": 2}
    assert await exists(Toolbox, agent_id)


# ---- CORS --------------------------------------------------------------------------------------


async def test_cors_preflights_are_answered_by_the_ingress_without_an_agent(
    gated: httpx.AsyncClient, agent_id: str
) -> None:
    preflight = {
        "origin": GATED_ORIGIN,
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization, content-type",
    }
    response = await gated.options(path(Counter, agent_id, "/rpc/add"), headers=preflight)
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == GATED_ORIGIN
    assert response.headers["access-control-allow-credentials"] == "true"
    assert "POST" in response.headers["access-control-allow-methods"]
    assert "authorization" in response.headers["access-control-allow-headers"].lower()
    stranger = {**preflight, "origin": "https://evil.example"}
    response = await gated.options(path(Counter, agent_id, "/rpc/add"), headers=stranger)
    assert response.status_code == 400 and "access-control-allow-origin" not in response.headers
    assert not await exists(Counter, agent_id)

    origin = {"origin": GATED_ORIGIN}
    refused = await gated.post(path(Counter, agent_id, "/rpc/add"), json=[1], headers=origin)
    assert refused.status_code == 401  # the browser may read the gate's refusal
    assert refused.headers["access-control-allow-origin"] == GATED_ORIGIN
    headers = {**AUTH, "origin": GATED_ORIGIN}
    response = await gated.post(path(Counter, agent_id, "/rpc/add"), json=[1], headers=headers)
    assert response.status_code == 200 and response.headers["access-control-allow-origin"] == GATED_ORIGIN
    response = await gated.post(
        path(Counter, agent_id, "/rpc/add"), json=[1], headers={**AUTH, "origin": "https://evil.example"}
    )
    assert response.status_code == 200 and "access-control-allow-origin" not in response.headers


async def test_with_cors_a_socket_from_an_origin_not_allowed_is_refused(
    gated_url: str, agent_id: str
) -> None:
    url = ws(gated_url, "guarded", agent_id, f"token={GATE_TOKEN}")
    refused = await closed_with(url, additional_headers={"origin": "https://evil.example"})
    assert refused == (4403, "origin https://evil.example may not connect")
    assert not await exists(Guarded, agent_id)
    async with websockets.connect(url, additional_headers={"origin": GATED_ORIGIN}) as socket:
        assert json.loads(await asyncio.wait_for(socket.recv(), 30))["type"] == "identity"


def test_cors_refuses_credentials_for_any_origin() -> None:
    from serve.cors import Cors

    with pytest.raises(ValueError, match="credentials=True needs the origins listed"):
        Cors(origins=["*"], credentials=True)


async def test_a_gate_that_breaks_tells_the_client_nothing_of_its_internals() -> None:
    from serve import gate

    def broken(conn: object, agent_type: str, agent_id: str) -> None:
        raise KeyError("the secret table")

    with pytest.raises(AgentError) as refused:
        await gate.admit(broken, object(), "counter", "a")  # type: ignore[arg-type]
    assert "secret" not in str(refused.value) and "ingress log" in str(refused.value)


# ---- requests no handler can take ----------------------------------------------------------------


async def test_requests_that_cannot_reach_a_handler_activate_nothing(
    plain: httpx.AsyncClient, served: str, agent_id: str
) -> None:
    preflight = {"origin": "https://app.example.com", "access-control-request-method": "POST"}
    response = await plain.options(path(Counter, agent_id, "/rpc/add"), headers=preflight)
    assert error_of(response) == (405, "method_not_allowed")  # no CORS configured
    assert "OPTIONS" not in response.headers["allow"] and "POST" in response.headers["allow"]
    assert error_of(await plain.options(path(Counter, agent_id, "/"))) == (405, "method_not_allowed")
    # Counter does not override on_request: no route under its path but RPC.
    assert error_of(await plain.get(path(Counter, agent_id, "/anything"))) == (404, "not_found")
    assert error_of(await plain.get(path(Counter, agent_id))) == (404, "not_found")
    assert error_of(await plain.get(path(Counter, agent_id, "/rpc/add"))) == (404, "not_found")
    assert error_of(await plain.post(path(Counter, agent_id, "/rpc/nope"))) == (404, "unknown_method")
    assert error_of(await plain.post(path(Counter, agent_id, "/rpc/on_start"))) == (403, "not_callable")
    assert error_of(await plain.post(path(Counter, agent_id, "/rpc/add"), json=["x"])) == (
        422,
        "invalid_arguments",
    )
    assert error_of(await plain.post(path(Counter, agent_id, "/rpc/add"), json={"m": 1})) == (
        422,
        "invalid_arguments",
    )
    assert (await closed_with(ws(served, "nobody", agent_id)))[0] == 4404
    assert (await closed_with(ws(served, "counter", "x" * 300)))[0] == 4400
    assert not await exists(Counter, agent_id)

    assert error_of(await plain.get(path(Tally, agent_id, "/missing"))) == (404, "not_found")
    assert await exists(Tally, agent_id)  # Tally has on_request: that one was the agent's answer
    response = await plain.post(path(Counter, agent_id, "/rpc/add"), json=[3])
    assert (response.status_code, response.json()) == (200, 3)
    assert await exists(Counter, agent_id)
