"""`AgentClient`: a Python WebSocket client for one agent (asyncio, `websockets`).

```python
async with AgentClient("ws://localhost:8000/agents/counter/alice") as client:
    print(client.state)                      # synced from the agent, kept up to date
    await client.call("add", 5)              # or: await client.stub.add(5)
    async for token in client.stream("tokens", "hi"):
        ...
```
The client reconnects with backoff, keeping its connection ID (the agent sees `on_close`, then
`on_connect` again); calls made while disconnected are sent once it is back. A call already
sent when the socket drops fails with `ConnectionLostError` (it may or may not have run).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import websockets

from agents.errors import AgentError, CallError, ConnectionLostError, ConnectionRefusedByAgent
from agents.wire import patch, protocol
from agents.wire.errors import from_wire
from agents.wire.retry import backoff

__all__ = ["AgentClient", "CallError", "ConnectionLostError", "ConnectionRefusedByAgent"]

log = logging.getLogger("ray_agents.client")

StateCallback = Callable[[Any], None]
MessageCallback = Callable[[str | bytes], None]


class _Stub:
    def __init__(self, client: AgentClient) -> None:
        self._client = client

    def __getattr__(self, method: str) -> Callable[..., Any]:
        if method.startswith("_"):
            raise AttributeError(method)
        return lambda *args, **kwargs: self._client.call(method, *args, **kwargs)


class AgentClient:
    """A live connection to one agent: state sync, calls, streams, messages, reconnects."""

    def __init__(
        self,
        url: str,
        *,
        conn_id: str | None = None,
        query: dict[str, str] | None = None,
        on_state: StateCallback | None = None,
        on_message: MessageCallback | None = None,
        reconnect: bool = True,
        max_backoff: float = 5.0,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.conn_id = conn_id or uuid.uuid4().hex
        #: The URL as given (without the `conn` parameter), for messages.
        self.target = url
        #: Extra HTTP headers of the opening handshake (e.g. `Authorization`).
        self.headers = dict(headers or {})
        parts = urlsplit(url)
        params = {**(query or {}), "conn": self.conn_id}
        extra = urlencode(params)
        self.url = urlunsplit(parts._replace(query=f"{parts.query}&{extra}" if parts.query else extra))
        self.on_state = on_state
        self.on_message = on_message
        self.reconnect = reconnect
        self.max_backoff = max_backoff
        self.state: Any = None
        self.seq: int | None = None
        self.identity: protocol.Identity | None = None
        self.stub = _Stub(self)
        self._ws: Any = None
        self._ids = itertools.count(1)
        self._calls: dict[str, asyncio.Queue[tuple[str, Any]]] = {}
        #: Frames waiting for a connection, with the call id each starts (if any).
        self._unsent: list[tuple[str | bytes, str | None]] = []
        #: Calls whose frame went out on the current socket.
        self._in_flight: set[str] = set()
        self._ready = asyncio.Event()
        self._state_seen = asyncio.Event()
        self._closed = False
        self._fatal: AgentError | None = None
        self._close_frame: protocol.Close | None = None
        #: Why the socket last failed to open or closed, for `connect` to say.
        self._last_error: BaseException | None = None
        self._task: asyncio.Task[None] | None = None
        #: Times the socket was (re)opened; useful to see reconnects.
        self.connects = 0

    # ---- lifecycle -----------------------------------------------------------------------------

    async def connect(self, timeout: float = 30.0) -> AgentClient:
        """Open the socket and wait for the agent's identity and state.

        Raises `ConnectionRefusedByAgent` if the agent refused the connection, `ConnectionError`
        if (with `reconnect=False`) the socket could not open or closed before the state came,
        and `TimeoutError` if no state came within `timeout` seconds."""
        self._task = asyncio.get_running_loop().create_task(self._run())
        waiter = asyncio.ensure_future(self._state_seen.wait())
        await asyncio.wait({waiter, self._task}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        if self._fatal is not None:
            raise self._fatal
        if not self._state_seen.is_set():
            gave_up = self._task.done()  # it stopped trying (reconnect=False): say why, not "timeout"
            await self.close()
            if gave_up:
                reason = self._last_error or "the connection closed before the agent's state arrived"
                raise ConnectionError(f"cannot connect to {self.target}: {reason}")
            raise TimeoutError(f"no state from {self.target} within {timeout:g} s")
        return self

    async def close(self) -> None:
        self._closed = True
        if self._ws is not None:
            await self._ws.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def __aenter__(self) -> AgentClient:
        return await self.connect()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def connected(self) -> bool:
        return self._ready.is_set()

    async def wait_connected(self) -> None:
        await self._ready.wait()

    async def _run(self) -> None:
        attempt = 0
        while not self._closed:
            self._close_frame = None
            try:
                async with websockets.connect(
                    self._resuming_url(), max_size=None, additional_headers=self.headers
                ) as ws:
                    self._ws = ws
                    self.connects += 1
                    attempt = 0
                    await self._receive(ws)
            except (OSError, websockets.ConnectionClosed, websockets.InvalidHandshake) as exc:
                self._last_error = exc
                log.info("%s: connection closed: %r", self.url, exc)
            finally:
                self._ws = None
                self._ready.clear()
                self._fail_in_flight()
            close = self._close_frame
            if close is not None and 4400 <= close.code < 4500 and close.code != 4410:
                self._fatal = ConnectionRefusedByAgent(close.reason, close.code - 4000)
                self._closed = True
            if self._closed or not self.reconnect:
                return
            await asyncio.sleep(backoff(attempt, cap=self.max_backoff))
            attempt += 1

    def _resuming_url(self) -> str:
        """The URL, with the connection's resume token once the agent gave one: a reconnect that
        comes before the agent saw the old socket close takes its connection over."""
        token = self.identity.resume if self.identity is not None else ""
        return f"{self.url}&{urlencode({'resume': token})}" if token else self.url

    def _fail_in_flight(self) -> None:
        for call_id in self._in_flight:
            queue = self._calls.pop(call_id, None)
            if queue is not None:
                queue.put_nowait(("error", ConnectionLostError("the connection dropped during the call")))
        self._in_flight.clear()

    # ---- incoming ------------------------------------------------------------------------------

    async def _receive(self, ws: Any) -> None:
        read = acked = unacked_size = 0  # frames on this socket, as `protocol.Ack` counts them
        async for raw in ws:
            read, unacked_size = read + 1, unacked_size + len(raw)
            if read - acked >= protocol.ACK_EVERY_FRAMES or unacked_size >= protocol.ACK_EVERY_BYTES:
                await ws.send(protocol.Ack(frames=read).dump())
                acked, unacked_size = read, 0
            if isinstance(raw, bytes):
                self._user_message(raw)
                continue
            try:
                data = json.loads(raw)
                frame = protocol.server_frames.validate_python(data) if isinstance(data, dict) else None
            except ValueError:
                frame = None
            if frame is None:
                self._user_message(raw)
            else:
                await self._frame(ws, frame)

    async def _frame(self, ws: Any, frame: Any) -> None:
        if isinstance(frame, protocol.Identity):
            self.identity = frame
            self._ready.set()
            unsent, self._unsent = self._unsent, []
            for payload, call_id in unsent:
                await ws.send(payload)
                if call_id is not None:
                    self._in_flight.add(call_id)
        elif isinstance(frame, protocol.State):
            self._set_state(frame.state, frame.seq)
        elif isinstance(frame, protocol.StatePatch):
            try:
                if frame.seq != (self.seq or 0) + 1:
                    raise ValueError(f"patch {frame.seq} does not follow {self.seq}")
                new = patch.apply(self.state, [op.model_dump() for op in frame.patch])
            except ValueError:
                await ws.send(protocol.Sync().dump())
                return
            self._set_state(new, frame.seq)
        elif isinstance(frame, (protocol.Result, protocol.Chunk, protocol.End)):
            queue = self._calls.get(frame.id)
            if queue is not None:
                queue.put_nowait((frame.type, getattr(frame, "value", None)))
        elif isinstance(frame, protocol.Close):
            self._close_frame = frame
        elif isinstance(frame, protocol.Error):
            queue = self._calls.get(frame.id) if frame.id else None
            if queue is not None:
                queue.put_nowait(("error", from_wire(frame.code, frame.message)))
            else:
                log.warning("%s: error from agent: %s: %s", self.url, frame.code, frame.message)

    def _set_state(self, state: Any, seq: int) -> None:
        self.state, self.seq = state, seq
        self._state_seen.set()
        if self.on_state is not None:
            self.on_state(state)

    def _user_message(self, message: str | bytes) -> None:
        if self.on_message is not None:
            self.on_message(message)

    # ---- outgoing ------------------------------------------------------------------------------

    async def _send(self, payload: str | bytes, call_id: str | None = None) -> None:
        if self._fatal is not None:
            raise self._fatal
        if self._ws is not None and self._ready.is_set():
            try:
                await self._ws.send(payload)
                if call_id is not None:
                    self._in_flight.add(call_id)
                return
            except websockets.ConnectionClosed:
                pass
        self._unsent.append((payload, call_id))

    async def send(self, message: str | bytes | dict[str, Any] | list[Any]) -> None:
        """Send a message to the agent's `on_message` (dicts and lists as JSON)."""
        await self._send(message if isinstance(message, (str, bytes)) else json.dumps(message))

    async def set_state(self, state: Any) -> None:
        """Propose a new state (the agent must set `accept_client_state`)."""
        await self._send(protocol.SetState(state=state).dump())

    async def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """Call a `@callable` method and return its result (or raise its typed error)."""
        call_id, queue = await self._start(method, args, kwargs)
        try:
            kind, value = await queue.get()
        except asyncio.CancelledError:
            await self._cancel(call_id)
            raise
        finally:
            self._calls.pop(call_id, None)
            self._in_flight.discard(call_id)
        if kind == "error":
            raise value
        return value

    async def stream(self, method: str, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        """Iterate a streaming method's items; leaving the loop early cancels it in the agent."""
        call_id, queue = await self._start(method, args, kwargs)
        finished = False
        try:
            while True:
                kind, value = await queue.get()
                if kind == "error":
                    finished = True
                    raise value
                if kind in ("end", "result"):
                    finished = True
                    return
                yield value
        finally:
            self._calls.pop(call_id, None)
            self._in_flight.discard(call_id)
            if not finished:
                await self._cancel(call_id)

    async def _start(self, method: str, args: tuple, kwargs: dict) -> tuple[str, asyncio.Queue]:
        call_id = str(next(self._ids))
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self._calls[call_id] = queue
        frame = protocol.Rpc(id=call_id, method=method, args=list(args), kwargs=kwargs)
        await self._send(frame.dump(), call_id)
        return call_id, queue

    async def _cancel(self, call_id: str) -> None:
        with contextlib.suppress(Exception):
            await self._send(protocol.Cancel(id=call_id).dump())
