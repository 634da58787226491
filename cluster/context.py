"""Per-call context that follows a call chain across agents."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextvars import ContextVar

#: Keys of the agents whose turns the current code runs inside, outermost first. An agent that
#: finds its own key in an incoming call's chain refuses it (A -> B -> A would deadlock).
CALL_CHAIN: ContextVar[tuple[str, ...]] = ContextVar("ray_agents_call_chain", default=())

#: Inside a turn: waits until everything the agent committed so far is stored, and returns the
#: error to raise if that failed. A call to another agent waits for it first, so no agent acts
#: on state of this one that could still be lost (the output gate, for calls as for results).
OUTPUT_GATE: ContextVar[Callable[[], Awaitable[Exception | None]] | None] = ContextVar(
    "ray_agents_output_gate", default=None
)
