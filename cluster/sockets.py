"""The agent side of client connections: records, outboxes, state sync and the hook turns.

Connections end at Serve replicas. The agent keeps one record per connection in the checkpoint
section "connections" (`{id: {"state", "readonly", "replica", "resume"}}`, so `conn.state` survives
hibernation) and one outbox per replica. Each replica holds ONE streaming call (`subscribe`) per
agent it has clients of; the call yields batches of `(conn_ids, payload)` pushes from that
replica's outbox. Pushes queued while no stream is open (the agent was re-created, or woken by
another caller) wait in the outbox until the replica subscribes again.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import secrets
import time
from collections import deque
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pydantic_core
import ray

from agents.connections import Connection, overrides
from agents.errors import ConnectionInUseError, InvalidStateError, ReadOnlyError, UnknownConnectionError
from agents.mcp_client import oauth
from agents.requests import Request, Response
from agents.wire import patch, protocol
from cluster import outcome, tracing
from cluster.methods import method_table
from cluster.outcome import Outcome
from cluster.state import pack

if TYPE_CHECKING:
    from cluster.activation import Activation

log = logging.getLogger("ray_agents.sockets")

SECTION = "connections"
#: The connection ID `should_be_readonly` sees for an HTTP request (never a socket's: see
#: `serve.sessions`, whose IDs have no spaces).
HTTP_CONNECTION = "http request"
#: Pushes an outbox keeps for a replica that is not subscribed; the oldest are dropped beyond it.
OUTBOX_LIMIT = 10_000
#: How often an idle `subscribe` stream checks whether the agent is going away.
STREAM_POLL = 0.5
#: How often a push stream looks its replica's Ray actor up: Ray does not end a stream whose
#: caller died, so a replica that died would keep its connections (and this stream) for ever.
#: One lookup per replica and process per period, whatever the number of agents.
LIVENESS_CHECK = 10.0
_replicas_seen: dict[tuple[str, str], tuple[float, bool]] = {}


async def replica_alive(actor: tuple[str, str]) -> bool:
    """Whether the replica's actor (namespace, name) is alive (as known within LIVENESS_CHECK)."""
    seen = _replicas_seen.get(actor)
    if seen is not None and time.monotonic() - seen[0] < LIVENESS_CHECK:
        return seen[1]
    namespace, name = actor
    try:
        await asyncio.to_thread(ray.get_actor, name, namespace=namespace)
        alive = True
    except ValueError:  # no live actor of that name
        alive = False
    _replicas_seen[actor] = (time.monotonic(), alive)
    return alive


#: A push: ("send", conn_ids, payload) or ("close", conn_ids, (code, reason)).
Push = tuple[str, tuple[str, ...], Any]


@dataclass
class Outbox:
    pushes: deque[Push] = field(default_factory=lambda: deque(maxlen=OUTBOX_LIMIT))
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    #: Token of the stream that currently drains this outbox (a newer one displaces it).
    owner: object = None


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _resumes(record: dict[str, Any], token: str) -> bool:
    """Whether `token` is the connection's (records checkpointed before tokens have none)."""
    kept = record.get("resume")
    return kept is None or hmac.compare_digest(kept, _digest(token))


def _plain(value: Any) -> Any:
    return pydantic_core.to_jsonable_python(value, fallback=repr)


class SocketHub:
    """Per-activation connection bookkeeping (implements `agents.connections.ConnectionHub`)."""

    def __init__(self, activation: Activation) -> None:
        self._a = activation
        self._outboxes: dict[str, Outbox] = {}
        #: Connections that got a full state from this activation (the others get one before a patch).
        self._synced: set[str] = set()
        self._seq = 0
        self._last_sent: Any = None
        #: Pushes of the turn in progress (None outside turns).
        self._held: list[Push] | None = None
        activation.add_state_listener(self._on_state)

    # ---- records (ConnectionHub) ---------------------------------------------------------------

    def _records(self) -> dict[str, dict[str, Any]]:
        return self._a.sections.get(SECTION, {})

    def open_count(self) -> int:
        """Connections this agent holds a record of (open, or resumable)."""
        return len(self._records())

    def record(self, conn_id: str) -> dict[str, Any]:
        return self._records().get(conn_id, {})

    def conn_ids(self) -> list[str]:
        return list(self._records())

    def set_conn_state(self, conn_id: str, state: Any) -> None:
        record = self._records().get(conn_id)
        if record is None:
            raise UnknownConnectionError(f"connection {conn_id!r} is not open: it cannot keep state")
        pack(state)  # refuse what cannot be checkpointed now
        record["state"] = state

    def push(self, conn_ids: Iterable[str], frame: str | bytes) -> None:
        self._enqueue("send", conn_ids, frame)

    def close(self, conn_id: str, code: int, reason: str) -> None:
        self._enqueue("close", [conn_id], (code, reason))

    def begin_turn(self) -> None:
        """Hold pushes made by the turn starting now: they leave only if it commits."""
        self._held = []

    def take_held(self) -> list[Push]:
        """End the turn and hand over its pushes: they leave once a checkpoint covering the turn
        has landed (`release`), or never, if it fails (`cluster.group_commit`)."""
        held, self._held = self._held, None
        return held or []

    def drop_held(self) -> None:
        """End a rolled-back turn: its pushes never leave."""
        self._held = None

    def release(self, pushes: list[Push]) -> None:
        """Send pushes whose turns are durable now, in the order they were made."""
        for kind, conn_ids, payload in pushes:
            self._deliver(kind, conn_ids, payload)

    def _enqueue(self, kind: str, conn_ids: Iterable[str], payload: Any) -> None:
        if self._held is not None:
            self._held.append((kind, tuple(conn_ids), payload))
        else:  # outside turns: after what turns already pushed, once that is durable
            self._a.after_gate([(kind, tuple(conn_ids), payload)])

    def _deliver(self, kind: str, conn_ids: tuple[str, ...], payload: Any) -> None:
        records = self._records()
        by_replica: dict[str, list[str]] = {}
        for conn_id in conn_ids:
            if conn_id in records:
                by_replica.setdefault(records[conn_id]["replica"], []).append(conn_id)
        for replica, ids in by_replica.items():
            box = self._outboxes.setdefault(replica, Outbox())
            box.pushes.append((kind, tuple(ids), payload))
            box.ready.set()

    # ---- state sync ----------------------------------------------------------------------------

    def _plain_state(self) -> Any:
        """The state as clients get it: JSON-friendly data."""
        return _plain(self._a.codec.to_plain(self._a.get_state()))

    def _full_state(self, conn_ids: Iterable[str]) -> None:
        ids = list(conn_ids)
        if not ids:
            return
        state = self._plain_state()
        self._last_sent = state
        self.push(ids, protocol.State(state=state, seq=self._seq).dump())
        self._synced.update(ids)

    def _on_state(self, state: Any, source: Any) -> None:
        """After each persisted change: a patch to synced connections (if smaller), else the state."""
        new = _plain(self._a.codec.to_plain(state))
        old, self._last_sent = self._last_sent, new
        self._seq += 1
        sender = source.id if isinstance(source, Connection) else None
        targets = [c for c in self._records() if c != sender]
        full = protocol.State(state=new, seq=self._seq).dump()
        synced = [c for c in targets if c in self._synced]
        if synced and old is not None:
            ops = [protocol.PatchOp(**op) for op in patch.diff(old, new)]
            delta = protocol.StatePatch(patch=ops, seq=self._seq).dump()
            self.push(synced, delta if len(delta) < len(full) else full)
        self.push([c for c in targets if c not in self._synced], full)
        self._synced.update(targets)
        self._synced.discard(sender)  # its seq is behind now: it gets a full state next time

    # ---- entry points (run as turns) -----------------------------------------------------------

    async def connect(self, request: Request, conn_id: str, replica: str, resume: str = "") -> Outcome:
        """Gate, register and greet a connection; the outcome's value is its read-only flag and
        resume token. An open connection's ID is taken over (its `conn.state` with it) only by a
        connect giving that connection's token (`resume`)."""
        agent = self._a.agent

        async def body() -> tuple[bool, str]:
            await agent.validate_request(request)
            records = self._a.sections.setdefault(SECTION, {})
            previous = records.get(conn_id)
            if previous is None:
                resume_as = secrets.token_urlsafe(16)
            elif _resumes(previous, resume):
                resume_as = resume
            else:
                raise ConnectionInUseError(
                    f"connection {conn_id!r} is open and this connect did not give its resume token: "
                    "use another connection ID"
                )
            records[conn_id] = {
                "state": (previous or {}).get("state"),
                "readonly": False,
                "replica": replica,
                "resume": _digest(resume_as),
            }
            conn = Connection(self, conn_id)
            readonly = bool(agent.should_be_readonly(conn, request))
            records[conn_id]["readonly"] = readonly
            self._synced.discard(conn_id)
            self._full_state([conn_id])
            await agent.on_connect(conn, request)
            return readonly, resume_as

        connected = await self._a.run_hook(body)
        if connected.error is None:
            self._a.emit("connect", connection=conn_id, readonly=connected.value[0])
        return connected

    async def message(
        self,
        conn_id: str,
        replica: str,
        data: str | bytes,
        request_id: str,
        acks: tuple[str, ...] = (),
        trace: tracing.Carrier | None = None,
    ) -> Outcome:
        """Deliver a client message to `on_message`; on failure the client gets an error frame.
        `acks`: request ids whose results the replica has received (`Activation.invoke`);
        `trace`: the replica's span of the message (`tracing.carrier`)."""
        agent = self._a.agent
        self._a.checkpointer.forget_results(acks)

        async def body() -> None:
            record = self._live_record(conn_id, replica)
            if record is None:
                raise UnknownConnectionError(f"connection {conn_id!r} is closed")
            await agent.on_message(Connection(self, conn_id), data)

        with self._a.turn_span("on_message", request_id, trace) as span:
            result = tracing.ended(span, await self._a.run_hook(body, request_id))
        error = result.error
        if error is not None and not isinstance(error, UnknownConnectionError):
            self.push([conn_id], protocol.error_frame(error).dump())
            if overrides(type(agent), "on_error"):
                await self._a.run_hook(lambda: agent.on_error(Connection(self, conn_id), error))
        return result

    async def disconnect(self, conn_id: str, code: int, reason: str) -> Outcome:
        """The replica saw the socket close: forget the connection and run `on_close`."""
        agent = self._a.agent

        async def body() -> bool:
            if self._records().pop(conn_id, None) is None:
                return False
            self._synced.discard(conn_id)
            await agent.on_close(Connection(self, conn_id), code, reason)
            return True

        closed = await self._a.run_hook(body)
        if closed.error is None and closed.value:
            self._a.emit("disconnect", connection=conn_id, code=code)
        return closed

    async def set_state(self, conn_id: str, state: Any) -> Outcome:
        """A client's `set_state` frame: allowed only if the agent accepts client state."""
        agent = self._a.agent

        async def body() -> None:
            if not type(agent).accept_client_state:
                raise InvalidStateError(f"{type(agent).__name__} does not accept state from clients")
            if self.record(conn_id).get("readonly"):
                raise ReadOnlyError("this connection is read-only")
            agent.set_state(state, source=Connection(self, conn_id))

        return await self._a.run_hook(body)

    async def sync(self, conn_id: str) -> Outcome:
        """Send the full committed state to one connection (a turn, so it never sees a half-turn)."""
        return await self._a.run_hook(lambda: self._full_state([conn_id] if self.record(conn_id) else []))

    async def request(self, request: Request) -> Outcome:
        """An HTTP request for `on_request`, after `authorize`; a read-only request's
        `on_request` runs as a read-only turn (a change it makes fails it). An MCP server's OAuth
        callback goes to `self.mcp` instead (the user's browser holds none of the app's credentials)."""
        agent = self._a.agent
        if request.path.startswith(oauth.CALLBACK_PREFIX):  # its `state` is its credential
            return await self._a.run_hook(lambda: agent.mcp.complete_authorization(request))
        gate = await self.authorize(request)
        if not gate.ok:
            return gate

        async def body() -> Response:
            response = await agent.on_request(request)
            return response if isinstance(response, Response) else Response(response)

        return await self._a.run_hook(body, readonly=gate.value)

    async def authorize(self, request: Request) -> Outcome:
        """Gate an HTTP request as a connect is gated, in one read-only turn: `validate_request`,
        then `should_be_readonly` (its `conn` stands for the request: no state, sends go
        nowhere). The outcome's value is the read-only flag. Hooks not overridden cost nothing."""
        agent = self._a.agent
        validates, decides = (overrides(type(agent), h) for h in ("validate_request", "should_be_readonly"))
        if not (validates or decides):
            return outcome.success(False)

        async def body() -> bool:
            await agent.validate_request(request)
            return decides and bool(agent.should_be_readonly(Connection(self, HTTP_CONNECTION), request))

        return await self._a.run_hook(body, readonly=True)

    async def read_state(self, request: Request) -> Outcome:
        """The committed state, as JSON-friendly data, for a request `authorize` admits (the MCP
        endpoint's state resource); read in a read-only turn, so never a half-turn's."""
        gate = await self.authorize(request)
        if not gate.ok:
            return gate
        return await self._a.run_hook(self._plain_state, readonly=True, name="read_state")

    async def rpc(
        self,
        request: Request,
        method: str,
        args: tuple,
        kwargs: dict,
        request_id: str,
        acks: tuple[str, ...] = (),
        trace: tracing.Carrier | None = None,
    ) -> Outcome:
        """An HTTP RPC: `authorize`, then the call itself (refused if read-only and it may write).
        `trace`: the replica's span of the call (`tracing.carrier`)."""
        self._a.checkpointer.forget_results(acks)
        gate = await self.authorize(request)
        if not gate.ok:
            return gate
        spec = method_table(type(self._a.agent)).get(method)  # unknown: `invoke` says so
        if gate.value and spec is not None and not spec.readonly:
            return outcome.failure(ReadOnlyError(f"this request is read-only; {method} may change state"))
        return await self._a.invoke(method, args, kwargs, request_id, trace=trace)

    # ---- the push stream -----------------------------------------------------------------------

    def _live_record(self, conn_id: str, replica: str) -> dict[str, Any] | None:
        record = self._records().get(conn_id)
        if record is not None and record["replica"] != replica:
            record["replica"] = replica  # the client came back through another replica
        return record

    async def subscribe(
        self, replica: str, conn_ids: list[str], actor: tuple[str, str] | None = None
    ) -> AsyncIterator[list[Push]]:
        """Stream this replica's pushes until the agent goes away. Its connections that are not in
        `conn_ids` closed while the agent was away: they are dropped (with `on_close`). If the
        replica's actor (`actor`) dies, its connections are dropped too, and the stream ends."""
        box = self._outboxes.setdefault(replica, Outbox())
        token = box.owner = object()
        live = set(conn_ids)
        gone = [c for c, r in self._records().items() if r["replica"] == replica and c not in live]
        for conn_id in gone:
            await self.disconnect(conn_id, 1006, "connection lost while the agent was away")
        await self._a.run_hook(
            lambda: self._full_state(c for c in live if c in self._records() and c not in self._synced)
        )
        checked = time.monotonic()
        while box.owner is token:
            if actor is not None and time.monotonic() - checked >= LIVENESS_CHECK:
                checked = time.monotonic()
                if not await replica_alive(actor):
                    await self._forget_replica(replica)
                    return
            if box.pushes:
                batch = list(box.pushes)
                box.pushes.clear()
                yield batch
                continue
            if not self._a.state.serving:
                return
            box.ready.clear()
            try:
                await asyncio.wait_for(box.ready.wait(), STREAM_POLL)
            except TimeoutError:
                pass

    async def _forget_replica(self, replica: str) -> None:
        """Drop the connections of a replica that died, with `on_close`."""
        self._outboxes.pop(replica, None)
        gone = [c for c, r in self._records().items() if r["replica"] == replica]
        log.info("%s: replica %s went away; dropping its %d connections", self._a.key, replica, len(gone))
        for conn_id in gone:
            await self.disconnect(conn_id, 1006, "its Serve replica went away")
