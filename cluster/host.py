"""The Ray actor that carries agent activations: one (dedicated hosting) or many (pooled).

A dedicated host (`ray-agents-dedicated:...`, started ahead by `cluster.spares`) carries one
agent and stops when that agent retires. A pooled host (`ray-agents-host:...`) carries many
agents side by side; it retires them one by one (idle, evicted, destroyed, closed) and lives
on. Either way, every call names the agent's key and epoch: a host that does not hold that
activation refuses the call with a retriable error, so the caller asks the controller again.
Only the controller creates hosts and tells them what to activate.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import ray

from agents.agent import Agent
from agents.errors import AgentUnavailableError, HostFullError
from agents.hosting import Hosting
from agents.requests import Request
from cluster import inspection, outcome, routing, telemetry, tracing
from cluster.activation import Activation
from cluster.bursts import in_bursts
from cluster.config import RuntimeConfig
from cluster.lifecycle import ActivationState
from cluster.logs import configure_actor_logging
from cluster.naming import CONTROLLER_NAME, agent_key
from cluster.outcome import Outcome
from cluster.snapshots import Snapshot, read_snapshot
from cluster.sockets import Push
from cluster.stores import open_store
from cluster.threads import use_io_threads
from cluster.watchdog import LoopWatchdog

log = logging.getLogger("ray_agents.host")

#: What the controller asks a host to activate: (class, agent ID, epoch or None, for_alarm).
ActivationOrder = tuple[type[Agent], str, int | None, bool]

#: How often a host looks for idle and closed activations at most / at least.
SWEEP_MIN, SWEEP_MAX = 0.05, 10.0
#: An idle agent whose alarm is due within this many seconds stays live: the controller woke it
#: ahead of that alarm, and hibernating now would only mean waking it again.
ALARM_HORIZON = 3.0
#: The event (`agents.events`) of each reason an activation retires; others are "deactivate".
_RETIRED_EVENTS = {"idle": "hibernate", "evicted": "evict", "destroyed": "destroy"}


class AgentHost:
    """A Ray actor carrying activations; its methods are what routers and Serve replicas call,
    each naming the agent (key, epoch) and returning an `Outcome`."""

    def __init__(self, config: RuntimeConfig, name: str, hosting: Hosting, capacity: int) -> None:
        configure_actor_logging()
        self._config = config
        self.name = name
        self._telemetry = telemetry.install()
        self.capacity = capacity
        self.pooled = hosting == "pooled"
        self._node_id = ray.get_runtime_context().get_node_id()  # fixed for the process
        routing.configure(config)  # calls these agents make go to the same cluster and store
        self._store = open_store(config.store, config.namespace)
        #: key -> activation, least recently activated first (eviction looks at last use).
        self._activations: dict[str, Activation] = {}
        self._sweeper: asyncio.Task[None] | None = None
        #: Seconds between sweeps: a quarter of the shortest idle_timeout here (kept up to date as
        #: agents arrive, recomputed at each sweep), and an event to shorten a sweep's wait at once.
        self._period = SWEEP_MAX
        self._shorter = asyncio.Event()
        self._watchdog = LoopWatchdog()
        self._controller: Any = None
        #: Closes of retired activations still running (the loop keeps only weak references).
        self._closing: set[asyncio.Task[None]] = set()
        self.evictions = 0
        #: Activations under way (not yet in `held()`): a dedicated host doing one is not empty.
        self.activating = 0

    # ---- what the controller asks --------------------------------------------------------------

    async def activate(self, orders: list[ActivationOrder]) -> list[Outcome]:
        """Restore these agents here and run their `on_start`; the controller publishes each only
        after. An order is (class, agent ID, epoch, for_alarm): epoch None takes the next epoch
        from the store here (pooled hosts do, for the controller); `for_alarm`, the controller
        woke it for its alarm (its index entry is re-published). The batch's store reads (epoch
        bumps, checkpoints) share one thread hop; each order succeeds or fails on its own."""
        use_io_threads()
        self.activating += len(orders)
        try:
            prepared = await asyncio.to_thread(self._prepare, orders)
            results = await asyncio.gather(
                *(self._activate(o, epoch, snap) for o, (epoch, snap) in zip(orders, prepared, strict=True)),
                return_exceptions=True,  # each order succeeds or fails on its own
            )
        finally:
            self.activating -= len(orders)
        return [r if isinstance(r, Outcome) else outcome.failure(r) for r in results]

    def _prepare(self, orders: list[ActivationOrder]) -> list[tuple[int | Exception, Snapshot | None]]:
        """Each order's epoch (bumped in the store, for the batch at once, if not given) and then
        its latest checkpoint: read after the bump, which fences off every older activation."""
        keys = [agent_key(agent_cls.type_name, agent_id) for agent_cls, agent_id, _, _ in orders]
        to_bump = [key for key, (_, _, epoch, _) in zip(keys, orders, strict=True) if epoch is None]
        bumped = dict(zip(to_bump, self._store.bump_epochs(to_bump), strict=True))
        prepared: list[tuple[int | Exception, Snapshot | None]] = []
        for key, (_, _, given, _) in zip(keys, orders, strict=True):
            epoch = bumped[key] if given is None else given
            snapshot: Snapshot | None = None
            if not isinstance(epoch, Exception):
                with contextlib.suppress(Exception):  # else the activation reads it again, and says why
                    snapshot = read_snapshot(self._store, key)
            prepared.append((epoch, snapshot))
        return prepared

    async def _activate(
        self, order: ActivationOrder, epoch: int | Exception, snapshot: Snapshot | None
    ) -> Outcome:
        """Start one ordered activation. Until its `start` takes the snapshot's rebuilt database
        file, the file is this method's to delete, whatever ends it."""
        try:
            return await self._start(order, epoch, snapshot)
        finally:
            if snapshot is not None and not snapshot.taken:
                snapshot.discard()

    async def _start(
        self, order: ActivationOrder, epoch: int | Exception, snapshot: Snapshot | None
    ) -> Outcome:
        agent_cls, agent_id, _, for_alarm = order
        if isinstance(epoch, Exception):
            return outcome.failure(epoch)
        key = agent_key(agent_cls.type_name, agent_id)
        old = self._activations.get(key)
        if old is not None:  # an older epoch the controller has replaced: fenced, drop it
            self._retire(key, old, "replaced")
        if not await self._make_room(agent_cls):
            return outcome.failure(
                HostFullError(
                    f"host {self.name}: full of busy agents ({len(self._activations)}); none evictable"
                )
            )
        activation = Activation(
            agent_cls,
            agent_id,
            epoch,
            self._store,
            self._config.dedupe_window,
            offload_sync=self.pooled,
            clear_stale_alarm=for_alarm,
            node=self._node_id,
        )
        raced = self._activations.get(key)
        if raced is not None:  # another activate of this key got in during the awaits above
            self._retire(key, raced, "replaced")
        self._activations[key] = activation
        try:
            await activation.start(snapshot)
        except BaseException as exc:
            if self._activations.get(key) is activation:
                del self._activations[key]
            if not isinstance(exc, Exception):  # cancelled: close it in the background
                self._retire(key, activation, "failed")
                raise
            await activation.close()  # releases its database file
            return outcome.failure(exc)
        self._start_background(activation)
        self._live_changed()
        return outcome.success(self._info(activation))

    def held(self) -> list[dict[str, Any]]:
        """Every activation here (for a restarted controller's rebuild)."""
        return [self._info(a) for a in self._activations.values()]

    def load(self) -> dict[str, Any]:
        """How full this host is."""
        return {
            "name": self.name,
            "agents": len(self._activations),
            "activating": self.activating,
            "capacity": self.capacity,
            "evictions": self.evictions,
            "pid": os.getpid(),
            "node_id": self._node_id,
        }

    async def drop(self, key: str, epoch: int) -> None:
        """Hibernate an activation now: one the controller replaced (a zombie), or one an operator
        wants out of memory. Its checkpoint is in the store; the next call wakes it."""
        activation = self._activations.get(key)
        if activation is not None and activation.epoch <= epoch:
            await activation.close()
            self._retire(key, activation, "dropped")

    async def events(
        self,
        after: int = 0,
        agent: tuple[str, str] | None = None,
        wait_s: float = 0.0,
        source: str | None = None,
    ) -> dict:
        """Recent events here numbered above `after` (of one agent, `agent` = (type, ID)),
        waiting up to `wait_s` seconds for one: {"events", "last", "source"} (`EventFeed.wait`)."""
        return await self._telemetry.feed.wait(after, agent, min(wait_s, 30.0), source)

    def counts(self) -> dict[str, Any]:
        """Events here since this process started, by type and name, with the host's load."""
        return {**self.load(), "events": self._telemetry.feed.counts(), "at": time.time()}

    def stalls(self) -> list[dict[str, Any]]:
        """What the event-loop watchdog saw block this host's loop (latest last)."""
        return [vars(s) for s in self._watchdog.stalls]

    # ---- calls -------------------------------------------------------------------------------

    async def describe(self, key: str, epoch: int) -> Outcome:
        a = self._live(key, epoch)
        return self._not_here(key, epoch) if a is None else outcome.success(self._info(a))

    async def inspect(self, key: str, epoch: int) -> Outcome:
        """Where the agent runs and what it holds (`cluster.inspection.snapshot`), for the inspector."""

        async def read(a: Activation) -> dict[str, Any]:
            return {**self._info(a), **await inspection.snapshot(a)}

        return await self._on(key, epoch, lambda a: _caught(read(a)))

    async def query(self, key: str, epoch: int, sql: str, limit: int) -> Outcome:
        """A read-only SQL statement on the agent's database (`cluster.inspection.query`)."""
        return await self._on(key, epoch, lambda a: _caught(inspection.query(a, sql, limit)))

    async def invoke(self, call: bytes) -> bytes:
        """A method call: `outcome.encode_call((key, epoch, method, args, kwargs, request_id,
        chain, acks, trace))` in, an encoded `Outcome` out (the hot path: one bytes argument, one
        bytes reply). `acks`: request ids whose results the caller received (`routing.Received`);
        `trace`: the caller's span (`tracing.carrier`) or None."""
        key, epoch, method, args, kwargs, request_id, chain, acks, trace = outcome.decode_call(call)
        return outcome.encode(
            await self._on(
                key, epoch, lambda a: a.invoke(method, args, kwargs, request_id, chain, acks, trace)
            )
        )

    async def stream(
        self,
        key: str,
        epoch: int,
        method: str,
        args: tuple,
        kwargs: dict,
        chain: tuple[str, ...],
        trace: tracing.Carrier | None = None,
    ) -> AsyncIterator[list[Outcome]]:
        """The method's outcomes (items, then the end or an error), in batches of what arrived
        while the previous batch was being sent (`cluster.bursts`)."""
        a = self._live(key, epoch)
        if a is None:
            yield [self._not_here(key, epoch)]
            return
        async for batch in in_bursts(a.stream(method, args, kwargs, chain, trace)):
            yield batch

    # ---- client connections and HTTP, from Serve replicas (`cluster.sockets.SocketHub`) -------

    async def connect(
        self, key: str, epoch: int, request: Request, conn_id: str, replica: str, resume: str = ""
    ) -> Outcome:
        connected = await self._on(key, epoch, lambda a: a.sockets.connect(request, conn_id, replica, resume))
        self._live_changed()
        return connected

    async def message(
        self,
        key: str,
        epoch: int,
        conn_id: str,
        replica: str,
        data: str | bytes,
        request_id: str,
        acks: tuple[str, ...] = (),
        trace: tracing.Carrier | None = None,
    ) -> Outcome:
        return await self._on(
            key, epoch, lambda a: a.sockets.message(conn_id, replica, data, request_id, acks, trace)
        )

    async def disconnect(self, key: str, epoch: int, conn_id: str, code: int, reason: str) -> Outcome:
        disconnected = await self._on(key, epoch, lambda a: a.sockets.disconnect(conn_id, code, reason))
        self._live_changed()
        return disconnected

    async def set_client_state(self, key: str, epoch: int, conn_id: str, state: Any) -> Outcome:
        return await self._on(key, epoch, lambda a: a.sockets.set_state(conn_id, state))

    async def resync(self, key: str, epoch: int, conn_id: str) -> Outcome:
        return await self._on(key, epoch, lambda a: a.sockets.sync(conn_id))

    async def request(self, key: str, epoch: int, request: Request) -> Outcome:
        return await self._on(key, epoch, lambda a: a.sockets.request(request))

    async def authorize(self, key: str, epoch: int, request: Request) -> Outcome:
        return await self._on(key, epoch, lambda a: a.sockets.authorize(request))

    async def read_state(self, key: str, epoch: int, request: Request) -> Outcome:
        return await self._on(key, epoch, lambda a: a.sockets.read_state(request))

    async def rpc(
        self,
        key: str,
        epoch: int,
        request: Request,
        method: str,
        args: tuple,
        kwargs: dict,
        request_id: str,
        acks: tuple[str, ...] = (),
        trace: tracing.Carrier | None = None,
    ) -> Outcome:
        return await self._on(
            key, epoch, lambda a: a.sockets.rpc(request, method, args, kwargs, request_id, acks, trace)
        )

    async def subscribe(
        self, key: str, epoch: int, replica: str, conn_ids: list[str], actor: tuple[str, str] | None = None
    ) -> AsyncIterator[list[Push]]:
        """One replica's pushes to its connections of this agent, as a stream (call with
        num_returns="streaming"). Ends at once if this host does not hold the activation.
        `actor`: the replica's Ray actor (namespace, name), looked up to tell it died."""
        a = self._live(key, epoch)
        if a is None:
            return
        async for batch in a.sockets.subscribe(replica, conn_ids, actor):
            yield batch

    def _live(self, key: str, epoch: int) -> Activation | None:
        activation = self._activations.get(key)
        return activation if activation is not None and activation.epoch == epoch else None

    def _not_here(self, key: str, epoch: int) -> Outcome:
        """The refusal a caller retries after asking the controller where the agent lives now."""
        return outcome.Outcome(
            error=AgentUnavailableError(f"{key} epoch {epoch} is not live on host {self.name}")
        )

    async def _on(self, key: str, epoch: int, call: Callable[[Activation], Awaitable[Outcome]]) -> Outcome:
        """Run `call` on the activation key@epoch if this host holds it (else refuse, retriably);
        retire the activation at once if the call destroyed it."""
        activation = self._live(key, epoch)
        if activation is None:
            return self._not_here(key, epoch)
        result = await call(activation)
        if activation.state is ActivationState.DESTROYED:
            self._retire(key, activation, "destroyed")
        return result

    # ---- end of life -------------------------------------------------------------------------

    def _start_background(self, arrived: Activation) -> None:
        period = _sweep_period(arrived)
        if period < self._period:
            self._period = period
            self._shorter.set()
        if self._sweeper is None or self._sweeper.done():
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep())
        if self.pooled:
            self._watchdog.start()

    async def _sweep(self) -> None:
        """Retire activations idle for their class's `idle_timeout` (hibernation), and those that
        closed for any other reason (destroyed, fenced, a failed checkpoint): none lingers."""
        while self._activations:
            deadline = time.monotonic() + self._period
            while (wait := deadline - time.monotonic()) > 0:
                self._shorter.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._shorter.wait(), wait)
                deadline = min(deadline, time.monotonic() + self._period)
            self._period = min((_sweep_period(a) for a in self._activations.values()), default=SWEEP_MAX)
            for key, activation in list(self._activations.items()):
                state = activation.state
                if state is ActivationState.STARTING:
                    continue
                if not state.serving:
                    self._retire(
                        key, activation, "destroyed" if state is ActivationState.DESTROYED else "closed"
                    )
                elif activation.idle_seconds() >= activation.agent_cls.idle_timeout and not _alarm_soon(
                    activation
                ):
                    await activation.close()
                    self._retire(key, activation, "idle")

    async def _make_room(self, agent_cls: type[Agent]) -> bool:
        """Room for one more agent of `agent_cls`: under the host's capacity and the class's own
        `max_agents_per_host`, evicting least recently used idle agents if needed."""
        limit, name = agent_cls.max_agents_per_host, agent_cls.type_name
        if limit is not None:
            same = [k for k, a in self._activations.items() if a.type_name == name]
            if len(same) >= limit and await self._evict(same, len(same) - limit + 1) < len(same) - limit + 1:
                return False
        over = len(self._activations) - self.capacity + 1
        if over <= 0:
            return True
        # Evict a percent of capacity at a time, so a full host does not sort itself per arrival.
        return await self._evict(list(self._activations), max(over, self.capacity // 100)) >= over

    async def _evict(self, keys: list[str], count: int) -> int:
        """Hibernate up to `count` of the least recently used idle agents among `keys` (their
        checkpoint is in the store already); returns how many."""
        idle = sorted(
            (a.last_activity, key)
            for key in keys
            if (a := self._activations[key]).state.serving and a.idle_seconds() > 0
        )
        evicted = 0
        for _, key in idle[:count]:
            activation = self._activations.get(key)
            if activation is None or not activation.state.serving or activation.idle_seconds() == 0:
                continue  # retired, or called, while an earlier eviction awaited
            self._retire(key, activation, "evicted")
            evicted += 1
        self.evictions += evicted
        if evicted:
            log.info("host %s: evicted %d least recently used idle agents", self.name, evicted)
        return evicted

    def _retire(self, key: str, activation: Activation, reason: str) -> None:
        """Forget an activation and tell the controller (which stops a dedicated host). Once."""
        if activation.state is ActivationState.RETIRED:
            return
        # Close it whatever its state (idempotent): no turn starts, its alarm timer no longer
        # holds it in memory, its database is released once any running turn has ended.
        closing = asyncio.get_running_loop().create_task(activation.close())
        self._closing.add(closing)
        closing.add_done_callback(self._closing.discard)
        activation.state = ActivationState.RETIRED
        if self._activations.get(key) is activation:
            del self._activations[key]
            self._live_changed()
        name = _RETIRED_EVENTS.get(reason, "deactivate")
        activation.emit(name, **({} if name != "deactivate" else {"reason": reason}))
        log.info(
            "%s epoch %d: retiring (%s) after %d checkpoints",
            key,
            activation.epoch,
            reason,
            activation.checkpoints,
        )
        with contextlib.suppress(Exception):
            if self._controller is None:  # looked up once: hosts retire agents by the thousand
                self._controller = ray.get_actor(CONTROLLER_NAME, namespace=self._config.namespace)
            self._controller.release.remote(key, activation.epoch, reason, None if self.pooled else self.name)

    def _live_changed(self) -> None:
        """Tell the metrics how many agents, and open connections by type, this host carries."""
        connections: Counter[str] = Counter()
        for a in self._activations.values():
            connections[a.type_name] += a.sockets.open_count()
        self._telemetry.set_live(len(self._activations), connections)

    def _info(self, a: Activation) -> dict[str, Any]:
        return {
            "key": a.key,
            "epoch": a.epoch,
            "host": self.name,
            "hosting": "pooled" if self.pooled else "dedicated",
            "pid": os.getpid(),
            "node_id": self._node_id,
            "state": a.state.value,
            "ready": a.state.serving,
            "checkpoints": a.checkpoints,
            "idle_seconds": a.idle_seconds(),
            "at": time.time(),
        }


async def _caught(reading: Awaitable[Any]) -> Outcome:
    """What `reading` returns, or the error it raised, as an outcome."""
    try:
        return outcome.success(await reading)
    except Exception as exc:
        return outcome.failure(exc)


def _alarm_soon(activation: Activation) -> bool:
    due = activation.checkpointer.published_alarm
    return due is not None and due - time.time() < ALARM_HORIZON


def _sweep_period(activation: Activation) -> float:
    return max(SWEEP_MIN, min(float(activation.agent_cls.idle_timeout) / 4, SWEEP_MAX))
