"""Live client connections as an agent sees them, and the web hooks every `Agent` has.

A connection is a WebSocket held by some Serve replica; the agent only sees its ID, its
per-connection `state` (kept in the checkpoint, so it survives hibernation) and `send`/`close`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, ClassVar, Protocol

from agents.requests import Request, Response

#: What `send` and `broadcast` accept: text, bytes (a binary frame), or data sent as JSON text.
Message = str | bytes | dict[str, Any] | list[Any]


class ConnectionHub(Protocol):
    """The agent-side bookkeeping behind connections (implemented in `cluster.sockets`)."""

    def record(self, conn_id: str) -> dict[str, Any]: ...
    def conn_ids(self) -> list[str]: ...
    def set_conn_state(self, conn_id: str, state: Any) -> None: ...
    def push(self, conn_ids: Iterable[str], frame: str | bytes) -> None: ...
    def close(self, conn_id: str, code: int, reason: str) -> None: ...


def encode_message(message: Message) -> str | bytes:
    """A user message as a WebSocket payload (bytes: binary frame; everything else: text)."""
    if isinstance(message, (str, bytes)):
        return message
    return json.dumps(message)


class Connection:
    """One client connection. `id` is stable across the client's reconnects."""

    def __init__(self, hub: ConnectionHub, conn_id: str) -> None:
        self._hub = hub
        self.id = conn_id

    @property
    def readonly(self) -> bool:
        """Read-only connections may call `@callable(readonly=True)` methods only."""
        return bool(self._hub.record(self.id).get("readonly"))

    @property
    def state(self) -> Any:
        """Per-connection data the agent keeps (msgpack-able); persisted with the agent."""
        return self._hub.record(self.id).get("state")

    @state.setter
    def state(self, value: Any) -> None:
        self._hub.set_conn_state(self.id, value)

    def send(self, message: Message) -> None:
        """Queue a message to this client (delivered after reconnects while the agent lives)."""
        self._hub.push([self.id], encode_message(message))

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the client's socket; `on_close` runs when the replica reports it closed."""
        self._hub.close(self.id, code, reason)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Connection) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)

    def __repr__(self) -> str:
        return f"Connection({self.id!r})"


class WebHooks:
    """HTTP and WebSocket hooks of an agent; every hook runs as a turn. Override what you need."""

    #: Whether clients may replace the state with a `set_state` frame (off: clients call methods).
    accept_client_state: ClassVar[bool] = False

    _runtime: Any

    async def validate_request(self, request: Request) -> None:
        """Gate for HTTP requests and WebSocket connects: raise `Rejected(status, reason)` to refuse."""

    def should_be_readonly(self, conn: Connection, request: Request) -> bool:
        """Whether a new connection may only call read-only methods and never set state. It is
        asked of HTTP requests too (RPCs and `on_request`, which then runs read-only): there,
        `conn` stands for the request (ID "http request", no state)."""
        return False

    async def on_connect(self, conn: Connection, request: Request) -> None:
        """A client connected (the identity and state frames are already queued to it)."""

    async def on_message(self, conn: Connection, message: str | bytes) -> None:
        """A text or binary message that is not a protocol frame."""

    async def on_close(self, conn: Connection, code: int, reason: str) -> None:
        """The client's socket closed."""

    async def on_error(self, conn: Connection, error: Exception) -> None:
        """`on_message` raised (its turn was rolled back and the client got an error frame)."""

    async def on_request(self, request: Request) -> Response:
        """Any HTTP request under `/agents/{agent}/{id}/` that is not an RPC."""
        return Response({"error": {"code": "not_found", "message": "no such route"}}, status=404)

    def connections(self) -> list[Connection]:
        """Every open connection to this agent, whichever replica holds it."""
        hub: ConnectionHub = self._runtime.sockets
        return [Connection(hub, conn_id) for conn_id in hub.conn_ids()]

    def broadcast(self, message: Message, exclude: Iterable[Connection | str] = ()) -> None:
        """Send a message to every connection except those in `exclude`."""
        hub: ConnectionHub = self._runtime.sockets
        skip = {c.id if isinstance(c, Connection) else c for c in exclude}
        hub.push([c for c in hub.conn_ids() if c not in skip], encode_message(message))


def overrides(agent_cls: type, hook: str) -> bool:
    """Whether the class has its own version of one of the `WebHooks` hooks."""
    return getattr(agent_cls, hook) is not getattr(WebHooks, hook)
