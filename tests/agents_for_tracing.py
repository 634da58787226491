"""Agents the tracing tests call, and the OTel SDK of the processes they are sent to.

Every Ray actor that gets `Traced` (its hosts, the controller, the Serve replicas) installs an
SDK TracerProvider that appends every ended span to `spans_path()` as one JSON line (`record`):
when it imports this module (the class came by reference), or when it unpickles the class's
`_tracing` attribute (the class came by value, as agent classes reach hosts: `cluster.shipping`).
The test driver installs its own provider (in memory) instead.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import ray
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

from agents import Agent, callable, get_agent
from agents.connections import Connection


class TracesHere:
    """Unpickled, it installs the span file's provider in that process (`install`)."""

    def __reduce__(self) -> tuple[Any, tuple[()]]:
        return install, ()


class Traced(Agent):
    """Notes (by call, or a WebSocket message), fails, relays a call to another of its kind, and streams."""

    hosting = "dedicated"
    initial_state = {"notes": 0}
    _tracing = TracesHere()

    @callable
    def note(self) -> int:
        self.set_state({"notes": self.state["notes"] + 1})
        return self.state["notes"]

    async def on_message(self, conn: Connection, message: str | bytes) -> None:
        self.note()

    @callable
    def fail(self) -> None:
        raise RuntimeError("this call fails")

    @callable
    async def relay(self, other_id: str) -> int:
        """Note, then have agent `other_id` note: a call from inside this turn."""
        self.note()
        return await get_agent(Traced, other_id).note()

    @callable
    async def count_to(self, n: int) -> AsyncIterator[int]:
        for i in range(1, n + 1):
            yield i


def spans_path() -> Path:
    """The file this Ray session's actors append their spans to (one per session: its node)."""
    return Path(tempfile.gettempdir()) / f"ray-agents-spans-{ray.get_runtime_context().get_node_id()}.jsonl"


def record(span: ReadableSpan) -> dict[str, Any]:
    """What the tests look at of a span: name, ids, parent, attributes, status."""
    context, parent = span.context, span.parent
    assert context is not None
    return {
        "name": span.name,
        "trace_id": format(context.trace_id, "032x"),
        "span_id": format(context.span_id, "016x"),
        "parent_id": format(parent.span_id, "016x") if parent is not None else None,
        "attributes": dict(span.attributes or {}),
        "status": span.status.status_code.name,
        "pid": os.getpid(),
    }


class JsonLinesExporter(SpanExporter):
    """Appends each span to a file as one JSON line (one `write` of an `O_APPEND` file)."""

    def __init__(self, path: Path) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        for span in spans:
            os.write(self._fd, (json.dumps(record(span)) + "\n").encode())
        return SpanExportResult.SUCCESS


def install() -> TracesHere:
    """In a Ray actor without an SDK provider yet, install one writing to `spans_path()`."""
    in_actor = ray.is_initialized() and ray.get_runtime_context().get_actor_id() is not None
    if in_actor and not isinstance(trace.get_tracer_provider(), TracerProvider):
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(JsonLinesExporter(spans_path())))
        trace.set_tracer_provider(provider)
    return TracesHere()


install()
