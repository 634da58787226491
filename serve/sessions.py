"""One WebSocket connection to an agent, held by a Serve replica.

The session registers for pushes, asks the agent to accept the connection (`validate_request`,
`should_be_readonly`, `on_connect`), then reads frames: protocol frames become calls, cancels and
state requests; everything else goes to the agent's `on_message`. One writer task sends every
outgoing frame, so frames to a client keep their order.

When the socket closes, its calls are cancelled, except streaming calls to methods marked
`@callable(finish_on_disconnect=True)`: those run to their end (their items are dropped), so a
client that reconnects can pick their results up (e.g. `ChatAgent.resume`).
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from collections import deque
from collections.abc import Callable
from typing import Any

import pydantic_core
from starlette.responses import Response
from starlette.websockets import WebSocket, WebSocketDisconnect

from agents.errors import AgentError, AgentUnavailableError, ReadOnlyError, UnknownConnectionError
from agents.wire import protocol
from cluster.methods import lookup_method
from cluster.naming import agent_key
from cluster.routing import Router, Target
from serve import gate
from serve.http import agent_request, jsonable, split_agent_path
from serve.pushes import PushHub
from serve.registry import AgentRegistry

log = logging.getLogger("ray_agents.serve.sessions")

_CONN_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")

#: Bytes sent on a socket that its client has not acknowledged yet (`protocol.Ack`), past which
#: the session closes it with CLOSE_TOO_SLOW (`build_app(max_unacked_bytes=...)`). Serve's send
#: never waits for a slow client (the replica and proxy buffer without bound), so this is what
#: bounds the memory a client that stops reading can hold.
MAX_UNACKED_BYTES = 4 << 20
#: "Try again later" (RFC 6455): clients reconnect, and get the whole state again.
CLOSE_TOO_SLOW = 1013

#: Work left running after a socket closed (calls marked `finish_on_disconnect`, the agent's
#: `on_close`): the event loop only keeps weak references to tasks.
_FINISHING: set[asyncio.Task[Any]] = set()


def _keep_running(task: asyncio.Task[Any]) -> None:
    """Hold a task its session no longer awaits until it ends."""
    _FINISHING.add(task)
    task.add_done_callback(_FINISHING.discard)


def close_code(exc: BaseException) -> int:
    """WebSocket close code for a refused connection: 4000 + the error's HTTP status."""
    return 4000 + (exc.status if isinstance(exc, AgentError) else 500)


class Session:
    """Implements `serve.pushes.Receiver` for one socket."""

    def __init__(
        self,
        ws: WebSocket,
        router: Router,
        pushes: PushHub,
        max_frame_bytes: int = protocol.MAX_FRAME_BYTES,
        max_unacked_bytes: int = MAX_UNACKED_BYTES,
    ) -> None:
        self.ws = ws
        self.router = router
        self.pushes = pushes
        self.max_frame_bytes = max_frame_bytes
        self.max_unacked_bytes = max_unacked_bytes
        #: Sizes of the frames sent and not acknowledged yet, oldest first, and their sum.
        self._unacked: deque[int] = deque()
        self._unacked_bytes = 0
        self._acked_frames = 0
        self.conn_id = ""
        self.readonly = False
        self._outgoing: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self._calls: dict[str, asyncio.Task[None]] = {}
        #: Calls that run to their end if the socket closes (`finish_on_disconnect`).
        self._finish_on_disconnect: set[str] = set()
        self._gone = False
        #: Pushes that came before the agent accepted the connect: sent once it has, else dropped
        #: (they may be for an open connection of the same ID, another client's).
        self._held: list[tuple[str, Any]] | None = []

    # ---- outgoing ------------------------------------------------------------------------------

    def deliver(self, kind: str, payload: Any) -> None:
        if self._held is not None:
            self._held.append((kind, payload))
        elif not self._gone:  # nothing reads the queue once the socket is closed
            self._outgoing.put_nowait((kind, payload))

    def send(self, frame: protocol.Frame) -> None:
        self.deliver("send", frame.dump())

    async def _write(self) -> tuple[int, str]:
        """Send queued frames until a close (returns its code and reason) or the socket fails."""
        try:
            while True:
                kind, payload = await self._outgoing.get()
                if kind == "close":
                    await self._refuse(*payload)
                    return payload
                if self._unacked_bytes and self._unacked_bytes + len(payload) > self.max_unacked_bytes:
                    return await self._close_too_slow()
                if isinstance(payload, bytes):
                    await self.ws.send_bytes(payload)
                else:
                    await self.ws.send_text(payload)
                self._sent(len(payload))
        except (WebSocketDisconnect, RuntimeError, OSError):
            return 1006, ""

    def _sent(self, size: int) -> None:
        self._unacked.append(size)
        self._unacked_bytes += size

    def _acknowledged(self, frames: int) -> None:
        """The client has read `frames` frames on this socket (a count it may repeat, never lower)."""
        for _ in range(min(frames - self._acked_frames, len(self._unacked))):
            self._unacked_bytes -= self._unacked.popleft()
            self._acked_frames += 1

    async def _close_too_slow(self) -> tuple[int, str]:
        reason = f"too far behind: {self._unacked_bytes} bytes sent and not acknowledged; reconnect"
        log.warning("%s: closing %s: %s", self._agent_key, self.conn_id, reason)
        self._outgoing = asyncio.Queue()  # what waited for it is dropped: it resyncs when it comes back
        await self._refuse(CLOSE_TOO_SLOW, reason)
        return CLOSE_TOO_SLOW, reason

    # ---- lifecycle -----------------------------------------------------------------------------

    async def run(self, registry: AgentRegistry, on_before_connect: gate.Hook | None = None) -> None:
        """Serve the socket until it closes. The gate, the agent class and the connection ID are
        checked before the agent is reached (a refusal closes with 4000 + status)."""
        await self.ws.accept()
        try:
            name, agent_id, rest = split_agent_path(self.ws)
            admitted = await gate.admit(on_before_connect, self.ws, name, agent_id)
            if isinstance(admitted, Response):
                reason = bytes(getattr(admitted, "body", b"")).decode(errors="replace")
                await self._refuse(4000 + admitted.status_code, reason)
                return
            agent_cls = registry.get(name)
            conn_id = self.ws.query_params.get("conn") or uuid.uuid4().hex
            if not _CONN_ID.match(conn_id):
                raise protocol.FrameError("invalid_connection_id", "conn must be 1-128 of [A-Za-z0-9_.:-]")
        except Exception as exc:
            await self._refuse(4400 if isinstance(exc, protocol.FrameError) else close_code(exc), str(exc))
            return
        self.conn_id = conn_id
        self.agent_cls, self.agent_id = agent_cls, agent_id
        subscription = self.pushes.attach(agent_cls, agent_id, self)
        closed: tuple[int, str] = (1006, "")
        tasks: list[asyncio.Task[Any]] = []
        connected = False
        try:
            request = agent_request(self.ws, rest, headers=admitted, hidden=("resume",))
            resume = self.ws.query_params.get("resume", "")
            try:
                replica = self.pushes.replica
                self.readonly, resume = await self._on_agent(
                    lambda t: t.actor.connect.remote(t.key, t.epoch, request, conn_id, replica, resume)
                )
            except Exception as exc:
                await self._refuse(close_code(exc), str(exc))
                return
            connected = True
            self.pushes.claim(subscription, self)
            held, self._held = self._held or [], None
            for kind, payload in held:
                self._outgoing.put_nowait((kind, payload))
            identity = protocol.Identity(
                agent=agent_cls.type_name,
                id=agent_id,
                connection=conn_id,
                readonly=self.readonly,
                resume=resume,
            ).dump()
            await self.ws.send_text(identity)
            self._sent(len(identity))
            loop = asyncio.get_running_loop()
            tasks = [loop.create_task(self._write()), loop.create_task(self._read(subscription))]
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            closed = done.pop().result()
        finally:
            self._gone = True
            for task in tasks:
                task.cancel()
            for call_id, task in self._calls.items():
                if call_id in self._finish_on_disconnect:
                    _keep_running(task)
                else:
                    task.cancel()
            self.pushes.detach(subscription, self)
            if connected:  # however the session ended (even cancelled or failed): on_close runs
                _keep_running(asyncio.get_running_loop().create_task(self._disconnect(*closed)))

    @property
    def _agent_key(self) -> str:
        return agent_key(self.agent_cls.type_name, self.agent_id)

    async def _disconnect(self, code: int, reason: str) -> None:
        """Tell the agent the socket closed: it forgets the connection and runs `on_close`."""
        conn_id = self.conn_id
        try:
            await self._on_agent(lambda t: t.actor.disconnect.remote(t.key, t.epoch, conn_id, code, reason))
        except Exception as exc:
            log.warning("%s: on_close for %s failed: %r", self._agent_key, conn_id, exc)

    async def _refuse(self, code: int, reason: str) -> None:
        reason = reason.encode()[:120].decode(errors="ignore")  # a close reason must fit in 123 bytes
        await self.ws.send_text(protocol.Close(code=code, reason=reason).dump())
        await self.ws.close(code, reason)

    async def _on_agent(self, submit: Callable[[Target], Any]) -> Any:
        """Run `submit(target)` (an `AgentHost` method call) on the agent's live host, with failover."""
        return await self.router.submit(self.agent_cls, self.agent_id, submit)

    # ---- incoming ------------------------------------------------------------------------------

    async def _read(self, subscription: Any) -> tuple[int, str]:
        """Handle frames until the client leaves; returns its close code and reason."""
        while True:
            try:
                message = await self.ws.receive()
            except (WebSocketDisconnect, RuntimeError):
                return 1006, ""
            if message["type"] == "websocket.disconnect":
                return message.get("code", 1000), message.get("reason") or ""
            subscription.wake()  # a hibernated agent's pushes resume with this message
            text, data = message.get("text"), message.get("bytes")
            if data is not None:
                await self._user_message(data)
                continue
            try:
                frame = protocol.parse_client_text(text or "", self.max_frame_bytes)
            except protocol.FrameError as exc:
                self.send(protocol.Error(id=exc.call_id, code=exc.code, message=exc.message))
                continue
            if frame is None:
                await self._user_message(text or "")
            else:
                await self._frame(frame)

    async def _user_message(self, data: str | bytes) -> None:
        if len(data) > self.max_frame_bytes:
            self.send(
                protocol.Error(code="frame_too_large", message=f"frame exceeds {self.max_frame_bytes} bytes")
            )
            return
        try:
            conn_id, replica = self.conn_id, self.pushes.replica
            await self.router.submit_once(
                self.agent_cls,
                self.agent_id,
                lambda t, request_id, acks, trace: t.actor.message.remote(
                    t.key, t.epoch, conn_id, replica, data, request_id, acks, trace
                ),
                method="on_message",
            )
        except UnknownConnectionError as exc:
            self.deliver("close", (close_code(exc), "the agent no longer knows this connection; reconnect"))
        except AgentUnavailableError as exc:
            self.send(protocol.error_frame(exc))
        except Exception:  # on_message raised: the agent already sent the client an error frame
            pass

    async def _frame(self, frame: Any) -> None:
        if isinstance(frame, protocol.Rpc):
            if frame.id in self._calls:
                self.send(
                    protocol.Error(id=frame.id, code="duplicate_id", message="a call with this id is running")
                )
                return
            self._calls[frame.id] = asyncio.get_running_loop().create_task(self._call(frame))
        elif isinstance(frame, protocol.Ack):
            self._acknowledged(frame.frames)
        elif isinstance(frame, protocol.Cancel):
            task = self._calls.get(frame.id)
            if task is not None:
                task.cancel()
        elif isinstance(frame, protocol.Hello):
            if frame.protocol != protocol.PROTOCOL_VERSION:
                self.deliver(
                    "close",
                    (
                        4426,
                        f"protocol {frame.protocol} unsupported; server speaks {protocol.PROTOCOL_VERSION}",
                    ),
                )
        elif isinstance(frame, protocol.SetState):
            state = frame.state
            await self._state_op(
                lambda t: t.actor.set_client_state.remote(t.key, t.epoch, self.conn_id, state)
            )
        elif isinstance(frame, protocol.Sync):
            await self._state_op(lambda t: t.actor.resync.remote(t.key, t.epoch, self.conn_id))

    async def _state_op(self, submit: Callable[[Target], Any]) -> None:
        try:
            await self._on_agent(submit)
        except Exception as exc:
            self.send(protocol.error_frame(exc))

    async def _call(self, frame: protocol.Rpc) -> None:
        """Run one RPC and send its result, chunks or error."""
        try:
            spec = lookup_method(self.agent_cls, frame.method)
            if self.readonly and not spec.readonly:
                raise ReadOnlyError(f"this connection is read-only; {frame.method} may change state")
            args = tuple(frame.args)
            if spec.streaming and spec.finish_on_disconnect:
                self._finish_on_disconnect.add(frame.id)
            if spec.streaming:
                async for item in self.router.stream(
                    self.agent_cls, self.agent_id, frame.method, args, frame.kwargs
                ):
                    self.send(protocol.Chunk(id=frame.id, value=jsonable(item)))
                self.send(protocol.End(id=frame.id))
            else:
                value = await self.router.call(
                    self.agent_cls, self.agent_id, frame.method, args, frame.kwargs
                )
                self.send(protocol.Result(id=frame.id, value=jsonable(value)))
        except asyncio.CancelledError:
            self.send(protocol.Error(id=frame.id, code="cancelled", message="the call was cancelled"))
        except pydantic_core.PydanticSerializationError as exc:
            self.send(protocol.Error(id=frame.id, code="unserializable_result", message=str(exc)))
        except Exception as exc:
            self.send(protocol.error_frame(exc, frame.id))
        finally:
            self._calls.pop(frame.id, None)
            self._finish_on_disconnect.discard(frame.id)
