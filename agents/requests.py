"""HTTP requests as agents see them, the responses they return, and `Rejected` for gates.

Plain data, so they cross from a Serve replica to the agent's process unchanged.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from agents.errors import Rejected

__all__ = ["Rejected", "Request", "Response"]


@dataclass(frozen=True)
class Request:
    """An HTTP request (or WebSocket handshake) addressed to one agent.

    `path` is what follows `/agents/{agent}/{id}` (e.g. "/hello" or ""); header names are lower case.
    """

    method: str
    url: str
    path: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    client: str | None = None

    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class Response:
    """What `on_request` returns. `body` may be bytes, text, or data to send as JSON."""

    body: Any = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    media_type: str | None = None

    def encoded(self) -> tuple[bytes, str]:
        """The body as bytes, and its media type."""
        if isinstance(self.body, bytes):
            return self.body, self.media_type or "application/octet-stream"
        if isinstance(self.body, str):
            return self.body.encode(), self.media_type or "text/plain; charset=utf-8"
        return json.dumps(self.body).encode(), self.media_type or "application/json"
