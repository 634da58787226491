"""Per-call context that follows a call chain across agents."""

from __future__ import annotations

from contextvars import ContextVar

#: Keys of the agents whose turns the current code runs inside, outermost first. An agent that
#: finds its own key in an incoming call's chain refuses it (A -> B -> A would deadlock).
CALL_CHAIN: ContextVar[tuple[str, ...]] = ContextVar("ray_agents_call_chain", default=())
