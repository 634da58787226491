"""Human approval of tool calls: the pending call is kept in the stream's row until decided.

A tool built with `tool(fn, needs_approval=True)` pauses its turn: the stream stores which call
awaits a decision and ends its segment with `Done(status="awaiting_approval")`. `approve` or
`reject` records the decision and resumes the loop from SQL, so it works across hibernation and
restarts. A new user message while a call awaits a decision is refused (`ApprovalPendingError`).
"""

from __future__ import annotations

from agents.chat.model import ToolCall
from agents.chat.streams import Stream
from agents.chat.tools import ChatTool, ToolResult


def awaits_decision(stream: Stream, call: ToolCall, tool: ChatTool | None) -> bool:
    """Whether the loop must pause before this call."""
    return tool is not None and tool.needs_approval and call.id not in stream.decisions


def decide(stream: Stream, call_id: str, approved: bool, reason: str) -> None:
    """Record a person's decision and let the loop run again."""
    stream.decisions[call_id] = {"approved": approved, "reason": reason}
    stream.awaiting = None
    stream.status = "streaming"


def rejection(stream: Stream, call: ToolCall) -> ToolResult | None:
    """The tool result for a rejected call (None if it was not rejected)."""
    decision = stream.decisions.get(call.id)
    if decision is None or decision["approved"]:
        return None
    reason = decision["reason"] or "no reason given"
    return ToolResult(f"the user rejected this call to {call.name}: {reason}", is_error=True)
