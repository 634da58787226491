"""OpenTelemetry spans (`cluster.tracing`) across real processes: the driver's route span, the
host's turn and checkpoint spans under it in one trace, a call from one agent to another nested
under the calling turn, a failed call's error status, a stream, and an HTTP request through Serve
that continues its `traceparent`. The driver records its spans in memory; the agents' hosts and
the Serve replicas append theirs to a file (`tests.agents_for_tracing`)."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import time
from collections.abc import Iterator
from typing import Any

import pytest
import websockets
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agents import get_agent
from agents.http import agent_url, request
from cluster import tracing
from tests.agents_for_tracing import Traced, record, spans_path
from tests.waiting import eventually

Span = dict[str, Any]


@pytest.fixture(scope="module")
def driver_spans() -> Iterator[InMemorySpanExporter]:
    """This process's SDK provider (set once per process: OTel allows no other), recording in
    memory; once the tests are done it stops exporting."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    deadline = time.monotonic() + 2 * tracing.RECHECK_S + 5
    while not tracing.enabled():  # seen within RECHECK_S of being set
        assert time.monotonic() < deadline, "tracing never saw the provider"
        time.sleep(0.05)
    yield exporter
    provider.shutdown()


@pytest.fixture
def spans(driver_spans: InMemorySpanExporter) -> Iterator[InMemorySpanExporter]:
    driver_spans.clear()
    yield driver_spans


pytestmark = [
    pytest.mark.usefixtures("runtime"),
    pytest.mark.parametrize("store_url", ["file"], indirect=True),
]


def host_spans(trace_id: str | None = None) -> list[Span]:
    """The spans the actors wrote, of one trace (else all)."""
    path = spans_path()
    lines = path.read_text().splitlines() if path.exists() else []
    return [s for s in map(json.loads, lines) if trace_id in (None, s["trace_id"])]


async def spans_of(trace_id: str, *names: str) -> list[Span]:
    """The actors' spans of a trace, once every one of `names` (a multiset) is among them."""
    wanted: list[Span] = []

    async def arrived() -> bool:
        wanted[:] = host_spans(trace_id)
        seen = [s["name"] for s in wanted]
        return all(seen.count(name) >= names.count(name) for name in names)

    await eventually(arrived)
    return wanted


def only(spans: list[Span], name: str, **attributes: Any) -> Span:
    found = [
        s
        for s in spans
        if s["name"] == name and all(s["attributes"].get(k) == v for k, v in attributes.items())
    ]
    assert len(found) == 1, (name, attributes, spans)
    return found[0]


def first_parent(span: Span, spans: list[Span]) -> str | None:
    """The parent of the oldest of `span`'s ancestors among `spans`: where its trace came from."""
    by_id = {s["span_id"]: s for s in spans}
    while span["parent_id"] in by_id:
        span = by_id[span["parent_id"]]
    return span["parent_id"]


def route_span(spans: InMemorySpanExporter, method: str) -> Span:
    return only([record(s) for s in spans.get_finished_spans()], "agents.route", **{"agent.method": method})


async def test_route_turn_and_checkpoint_are_one_trace(spans: InMemorySpanExporter, agent_id: str) -> None:
    assert await get_agent(Traced, agent_id).note() == 1
    route = route_span(spans, "note")
    assert route["attributes"]["agent.type"] == "traced" and route["attributes"]["agent.id"] == agent_id
    request_id = route["attributes"]["agent.request_id"]
    assert len(request_id) == 32 and route["parent_id"] is None
    host = await spans_of(route["trace_id"], "agents.turn", "agents.checkpoint")
    turn = only(host, "agents.turn", **{"agent.method": "note"})
    assert turn["parent_id"] == route["span_id"]  # continued across processes
    assert turn["attributes"]["agent.request_id"] == request_id and turn["attributes"]["agent.id"] == agent_id
    assert turn["attributes"]["agent.epoch"] >= 1 and turn["attributes"]["agent.outcome"] == "ok"
    assert turn["status"] == "UNSET"
    checkpoint = only(host, "agents.checkpoint")
    assert checkpoint["parent_id"] == turn["span_id"]
    assert (
        checkpoint["attributes"]["checkpoint.bytes"] > 0 and checkpoint["attributes"]["checkpoint.seq"] >= 1
    )
    assert checkpoint["pid"] == turn["pid"] != route["pid"]


async def test_a_call_from_a_turn_nests_under_that_turn(spans: InMemorySpanExporter, agent_id: str) -> None:
    other = f"{agent_id}-other"
    assert await get_agent(Traced, agent_id).relay(other) == 1
    route = route_span(spans, "relay")
    host = await spans_of(route["trace_id"], "agents.turn", "agents.turn", "agents.route")
    calling = only(host, "agents.turn", **{"agent.id": agent_id})
    inner_route = only(host, "agents.route", **{"agent.id": other})
    called = only(host, "agents.turn", **{"agent.id": other})
    assert calling["parent_id"] == route["span_id"]
    assert inner_route["parent_id"] == calling["span_id"] and inner_route["pid"] == calling["pid"]
    assert called["parent_id"] == inner_route["span_id"] and called["pid"] != calling["pid"]
    assert called["attributes"]["agent.request_id"] == inner_route["attributes"]["agent.request_id"]


async def test_a_failed_call_has_error_status(spans: InMemorySpanExporter, agent_id: str) -> None:
    with pytest.raises(RuntimeError, match="this call fails"):
        await get_agent(Traced, agent_id).fail()
    route = route_span(spans, "fail")
    assert route["status"] == "ERROR" and route["attributes"]["agent.error"] == "RuntimeError"
    turn = only(await spans_of(route["trace_id"], "agents.turn"), "agents.turn")
    assert turn["parent_id"] == route["span_id"] and turn["status"] == "ERROR"
    assert (
        turn["attributes"]["agent.outcome"] == "error" and turn["attributes"]["agent.error"] == "RuntimeError"
    )
    assert "this call fails" not in json.dumps(turn)  # its code, not its message


async def test_a_stream_is_a_turn_under_its_route(spans: InMemorySpanExporter, agent_id: str) -> None:
    assert [i async for i in get_agent(Traced, agent_id).count_to(3)] == [1, 2, 3]
    route = route_span(spans, "count_to")
    turn = only(await spans_of(route["trace_id"], "agents.turn"), "agents.turn")
    assert turn["parent_id"] == route["span_id"] and turn["attributes"]["agent.outcome"] == "ok"
    assert "agent.request_id" not in turn["attributes"]  # streams run once, without one


def test_without_the_api_every_span_is_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tracing, "trace", None)  # as if opentelemetry-api were not installed
    monkeypatch.setattr(tracing, "_tracer", None)
    assert not tracing.enabled() and tracing.context() is None
    with (
        tracing.route("traced", "a", "note", "r1") as route,
        tracing.turn("traced", "a", 1, "note", "r1", None) as turn,
    ):
        assert route is None and turn is None and tracing.carrier(route) is None


async def test_http_rpc_continues_the_traceparent(served: str, agent_id: str) -> None:
    trace_id, front_end = secrets.token_hex(16), secrets.token_hex(8)
    headers = {"traceparent": f"00-{trace_id}-{front_end}-01"}
    url = agent_url(served, "traced", agent_id, "/rpc/note")
    status, _, body = await asyncio.to_thread(request, url, "POST", [], headers)
    assert (status, json.loads(body)) == (200, 1)
    host = await spans_of(trace_id, "agents.ingress", "agents.route", "agents.turn", "agents.checkpoint")
    ingress, route, turn = (only(host, name) for name in ("agents.ingress", "agents.route", "agents.turn"))
    # under the front end's span: directly, or through the server's own spans (FastAPI's)
    assert first_parent(ingress, host) == front_end and ingress["attributes"]["agent.method"] == "note"
    assert route["parent_id"] == ingress["span_id"] and turn["parent_id"] == route["span_id"]
    assert only(host, "agents.checkpoint")["parent_id"] == turn["span_id"]
    assert turn["attributes"]["agent.request_id"] == route["attributes"]["agent.request_id"]


async def test_a_websocket_message_is_a_turn_under_the_replicas_route(served: str, agent_id: str) -> None:
    url = f"{served.replace('http', 'ws', 1)}/agents/traced/{agent_id}"
    turns: list[Span] = []

    async def message_turned() -> bool:
        turns[:] = [s for s in host_spans() if s["attributes"].get("agent.id") == agent_id]
        return any(s["attributes"].get("agent.method") == "on_message" for s in turns)

    async with websockets.connect(url) as ws:
        await ws.send("hello")
        await eventually(message_turned)
    turn = only(turns, "agents.turn", **{"agent.method": "on_message"})
    route = only(await spans_of(turn["trace_id"], "agents.route"), "agents.route")
    assert turn["parent_id"] == route["span_id"] and route["attributes"]["agent.method"] == "on_message"
    assert route["pid"] not in (turn["pid"], os.getpid())  # begun in the replica
    assert turn["attributes"]["agent.request_id"] == route["attributes"]["agent.request_id"]
