"""Errors on the wire: one `(code, status, message)` form for HTTP bodies, WebSocket frames and clients."""

from __future__ import annotations

from dataclasses import dataclass

from agents.errors import AgentError, CallError, registered


@dataclass(frozen=True)
class WireError:
    """An error as it travels: a stable code, an HTTP status and a readable message."""

    code: str
    status: int
    message: str


def to_wire(exc: BaseException) -> WireError:
    """ray-agents errors keep their code and status; anything else (user code raised) is `exception`."""
    if isinstance(exc, AgentError):
        return WireError(exc.code, exc.status, exc.message or str(exc))
    return WireError("exception", 500, f"{type(exc).__name__}: {exc}")


def from_wire(code: str, message: str, status: int = 500) -> AgentError:
    """The typed error for a wire code (`CallError` carrying the code when it has no class)."""
    cls = registered().get(code)
    if cls is None:
        return CallError(message, code, status)
    return cls.from_wire(message, status)
