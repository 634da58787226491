"""OpenTelemetry spans of a call: the ingress, its route, the agent's turn and its checkpoint.

Spans (`NAMES`) form one trace per call, across processes and agents:

    agents.ingress (Serve: HTTP RPC, MCP; continues an incoming W3C `traceparent`)
      agents.route (the caller: activation lookup, the Ray call, failover retries)
        agents.turn (the agent's host: the turn, until its result may leave)
          agents.checkpoint (the write that made the turn durable)
          agents.route (a call this turn makes to another agent) ...

The caller's span travels with the call as a W3C trace-context carrier (a small dict made by the
configured OTel propagator, `carrier`); the host continues it. opentelemetry-api is optional:
without it, or until a process configures an SDK TracerProvider, every function here is a
no-op that builds nothing. Spans hold agent type, ID, method, request id and epoch, never state,
arguments or results; a failure is its error code (`agents.events.error_code`), not its message.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from agents.events import error_code

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.trace import Span, Tracer

    from cluster.outcome import Outcome

try:
    from opentelemetry import context as otel_context
    from opentelemetry import propagate, trace
except ImportError:  # the optional dependency (`ray-agents[tracing]`) is not installed
    trace = None

#: The spans and what each covers.
NAMES: Mapping[str, str] = {
    "agents.ingress": "a Serve replica's HTTP RPC or MCP call (continues the request's trace)",
    "agents.route": "a caller's call: activation lookup, the Ray call and its failover retries",
    "agents.turn": "the agent's turn in its host, from the call's arrival (waiting for its turn) until "
    "its result may leave (its checkpoint landed)",
    "agents.checkpoint": "a checkpoint write (bytes, seq); its parent is the latest turn it covers",
}
#: What travels with a call: W3C trace-context headers (`traceparent`, `tracestate`).
Carrier = dict[str, str]
#: Until a provider is configured, how often (seconds) to look again: the lookup costs about a
#: microsecond (it reads the environment), too much to pay on every call of a process that never
#: traces; a provider configured late (after calls were made) takes effect within this delay.
RECHECK_S = 1.0

_OFF: AbstractContextManager[None] = contextlib.nullcontext()
_tracer: Tracer | None = None
_next_check = 0.0


def enabled() -> bool:
    """Whether this process records spans (an SDK TracerProvider is configured)."""
    return _current_tracer() is not None


def _current_tracer() -> Tracer | None:
    global _tracer, _next_check
    if _tracer is not None or trace is None:
        return _tracer
    now = time.monotonic()
    if now < _next_check:
        return None
    _next_check = now + RECHECK_S
    provider = trace.get_tracer_provider()
    if isinstance(provider, (trace.ProxyTracerProvider, trace.NoOpTracerProvider)):
        return None  # the API's no-op: nobody configured an SDK (yet)
    _tracer = provider.get_tracer("ray-agents")
    return _tracer


def ingress(
    agent_type: str, agent_id: str, method: str, headers: Mapping[str, str]
) -> AbstractContextManager[Span | None]:
    """A Serve replica's span of one call: a child of the current span (a server
    instrumentation's, such as FastAPI's, which continued the request's trace), else of the
    request's `traceparent` if it has one. Not made current (a streamed response runs on in
    other tasks): pass it on as `parent`."""
    tracer = _current_tracer()
    if tracer is None:
        return _OFF
    instrumented = trace.get_current_span().get_span_context().is_valid
    context = None if instrumented else propagate.extract(headers)
    span = tracer.start_span("agents.ingress", context=context, kind=trace.SpanKind.SERVER)
    if span.is_recording():
        span.set_attributes(_attributes(agent_type, agent_id, method))
    return _Ending(span)


def route(
    agent_type: str, agent_id: str, method: str, request_id: str | None, parent: Span | None = None
) -> AbstractContextManager[Span | None]:
    """A caller's span of one call, a child of `parent` (else of the current span). Not made
    current (streams yield from it); its `carrier` goes with the call."""
    tracer = _current_tracer()
    if tracer is None:
        return _OFF
    context = trace.set_span_in_context(parent) if parent is not None else None
    span = tracer.start_span("agents.route", context=context, kind=trace.SpanKind.CLIENT)
    if span.is_recording():
        span.set_attributes(_attributes(agent_type, agent_id, method, request_id))
    return _Ending(span)


def carrier(span: Span | None) -> Carrier | None:
    """What the call carries so the agent's turn continues `span`'s trace (None: not tracing)."""
    if span is None:
        return None
    headers: Carrier = {}
    propagate.inject(headers, context=trace.set_span_in_context(span))
    return headers


def turn(
    agent_type: str,
    agent_id: str,
    epoch: int,
    method: str,
    request_id: str | None,
    caller: Carrier | None,
) -> AbstractContextManager[Span | None]:
    """The span of a turn, a child of the caller's span (`caller`, its `carrier`), made current:
    the calls the turn makes to other agents are its children. Pass its outcome to `ended`."""
    tracer = _current_tracer()
    if tracer is None:
        return _OFF
    return _current_turn(tracer, agent_type, agent_id, epoch, method, request_id, caller)


@contextlib.contextmanager
def _current_turn(
    tracer: Tracer,
    agent_type: str,
    agent_id: str,
    epoch: int,
    method: str,
    request_id: str | None,
    caller: Carrier | None,
) -> Iterator[Span]:
    parent = propagate.extract(caller) if caller else None
    span = tracer.start_span("agents.turn", context=parent, kind=trace.SpanKind.SERVER)
    if span.is_recording():
        span.set_attributes(_attributes(agent_type, agent_id, method, request_id, epoch))
    with trace.use_span(span, end_on_exit=True, record_exception=False, set_status_on_exception=False):
        try:
            yield span
        except BaseException as exc:  # cancelled: turns return their errors as outcomes
            _ended_by(span, exc)
            raise


def ended(span: Span | None, result: Outcome) -> Outcome:
    """Record a turn's outcome on its span (an error: status ERROR and its code); returns it."""
    if span is not None and span.is_recording():
        if result.error is None:
            span.set_attribute("agent.outcome", "ok")
        else:
            _failed(span, result.error)
    return result


def context() -> Context | None:
    """The current trace context (None: not tracing), for work that runs later elsewhere."""
    return otel_context.get_current() if _current_tracer() is not None else None


def checkpoint(
    agent_type: str, agent_id: str, epoch: int, parent: Context | None
) -> AbstractContextManager[Span | None]:
    """The span of a checkpoint write, a child of `parent` (the `context` of the latest turn it
    covers). Say what it wrote with `checkpointed`."""
    tracer = _current_tracer()
    if tracer is None:
        return _OFF
    span = tracer.start_span("agents.checkpoint", context=parent)
    if span.is_recording():
        span.set_attributes(_attributes(agent_type, agent_id, epoch=epoch))
    return _Ending(span)


def checkpointed(span: Span | None, saved: int, seq: int) -> None:
    """The bytes a checkpoint wrote and its sequence number."""
    if span is not None and span.is_recording():
        span.set_attributes({"checkpoint.bytes": saved, "checkpoint.seq": seq})


class _Ending:
    """A started span (not current), ended on exit; an exception ending it is its error."""

    __slots__ = ("span",)

    def __init__(self, span: Span) -> None:
        self.span = span

    def __enter__(self) -> Span:
        return self.span

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        if exc is not None:
            _ended_by(self.span, exc)
        self.span.end()


def _ended_by(span: Span, exc: BaseException) -> None:
    """`exc` ended the span: its error (not GeneratorExit: a reader that stops a stream early
    did not fail it)."""
    if not isinstance(exc, GeneratorExit) and span.is_recording():
        _failed(span, exc)


def _failed(span: Span, exc: BaseException) -> None:
    code = error_code(exc)
    span.set_attributes({"agent.outcome": "error", "agent.error": code})
    span.set_status(trace.Status(trace.StatusCode.ERROR, code))


def _attributes(
    agent_type: str,
    agent_id: str,
    method: str | None = None,
    request_id: str | None = None,
    epoch: int | None = None,
) -> dict[str, str | int]:
    given = {
        "agent.type": agent_type,
        "agent.id": agent_id,
        "agent.method": method,
        "agent.request_id": request_id,
        "agent.epoch": epoch,
    }
    return {name: value for name, value in given.items() if value is not None}
