"""The placement controller: the only creator of activations; one live activation per agent ID.

It keeps the directory key -> (host actor, epoch). A dedicated agent gets a host actor of its own
(`cluster.spares`); a pooled agent goes to a shared host (`cluster.pool`). Callers cache what
`activate` returns and call the host directly; they come back only on a miss or when the
activation they had died or moved.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

import ray
from ray.exceptions import RayActorError

from agents.agent import Agent
from agents.checkpoints import RestorePoint
from agents.errors import (
    ActivationError,
    AgentUnavailableError,
    HostFullError,
    InvalidHostingError,
    StoreUnavailableError,
)
from agents.hosting import Hosting, validate_hosting
from agents.ids import validate_agent_id
from cluster import outcome
from cluster.batching import Coalescer
from cluster.classes import AgentTypes
from cluster.config import DEDICATED_AGENT_BYTES, RuntimeConfig
from cluster.host import ActivationOrder, AgentHost
from cluster.logs import configure_actor_logging
from cluster.naming import (
    DEDICATED_PREFIX,
    HOST_PREFIX,
    LEGACY_ACTOR_PREFIX,
    agent_key,
    split_key,
)
from cluster.outcome import Outcome
from cluster.pool import HostPool, PooledHost
from cluster.restore_points import RestorePoints
from cluster.routing import ActivationRequest
from cluster.spares import DedicatedHosts
from cluster.stores import CheckpointStore, open_store
from cluster.threads import use_io_threads

log = logging.getLogger("ray_agents.controller")

#: Seconds a retired dedicated actor may finish replying before it is killed.
RETIRE_GRACE = 1.0
#: How often the alarm index is polled for hibernated agents to wake.
ALARM_POLL = 0.2
#: A live agent whose alarm is overdue by this much is checked: its process may have died.
OVERDUE_GRACE = 2.0
#: A live agent that does not answer a restarted controller within this is replaced (its turns,
#: fenced off by the new epoch, can no longer checkpoint). Answers come between awaits, so only
#: an agent stuck in blocking code for this long is affected.
ADOPT_TIMEOUT = 30.0
#: Agents woken for alarms at once, so a burst of due alarms cannot swamp the cluster: a
#: dedicated wake starts a process, a pooled one is a few milliseconds in a running host.
WAKE_CONCURRENCY: dict[Hosting, int] = {"dedicated": 4, "pooled": 64}
#: How long the view of alive nodes is trusted before `ray.nodes()` is asked again.
NODES_TTL = 2.0


@dataclass
class Placement:
    actor: Any
    epoch: int
    node_id: str
    activated_at: float
    #: The pooled host carrying it (None: a dedicated actor of its own).
    host: str | None = None


class PlacementController:
    """Detached, named actor. Placement policy: a dedicated activation goes to the alive node with
    the fewest live agents (ties broken at random), as a soft preference so Ray may still place it
    elsewhere; a pooled one to a pooled host (see `cluster.pool`)."""

    def __init__(self, config: RuntimeConfig) -> None:
        configure_actor_logging()
        # The store is fixed here, so the hosts (and every caller that checks) use this one URL.
        self.config = dataclasses.replace(config, store_url=config.store)
        self._store: CheckpointStore | None = None
        self._store_error: Exception | None = None
        #: Reopening a store that could not be opened: one attempt at a time, at most every 2 s.
        self._store_lock = asyncio.Lock()
        self._store_retry_at = 0.0
        self._start_retry: asyncio.Task[None] | None = None
        self._open_store()
        self._placements: dict[str, Placement] = {}
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._types = AgentTypes(lambda: self.store, self._hosting)
        self._host = ray.remote(AgentHost)
        self._pool = HostPool(self.config, self._host)
        self._host_orders: dict[str, Coalescer[ActivationOrder, Outcome]] = {}
        self._dedicated = DedicatedHosts(self.config, self._host)
        #: Dedicated activations under way per node (counted against the node's cap).
        self._starting_on: Counter[str] = Counter()
        #: When fetched, and the alive nodes' IDs with their Ray `memory` resource (bytes).
        self._nodes: tuple[float, dict[str, float]] = (0.0, {})
        self._rebuild_lock = asyncio.Lock()
        self._rebuilt = False
        self.activations = 0
        self.alarm_wakes = 0
        self.retirements: Counter[str] = Counter()
        #: Recent activation times by hosting mode (seconds), to wake agents ahead of their alarms.
        self._wake_seconds: dict[Hosting, float] = {"dedicated": 1.0, "pooled": 0.05}
        self._waking: set[str] = set()
        self._wake_slots = {mode: asyncio.Semaphore(n) for mode, n in WAKE_CONCURRENCY.items()}
        self._wake_cooldown: dict[str, float] = {}
        self._wake_task: asyncio.Task[None] | None = None
        self._wake_tasks: set[asyncio.Task[None]] = set()
        self._restore_points = RestorePoints(self)
        # Rebuild and start polling alarms as soon as the actor is up: after a restart nobody may
        # call the controller for a long time, yet hibernated agents' alarms must still fire.
        ray.get_runtime_context().current_actor.start.remote()

    def store_url(self) -> str:
        """The checkpoint store this controller's agents use (callers check theirs matches)."""
        return self.config.store

    async def start(self) -> None:
        """Adopt surviving agents and start the alarm loop (idempotent). If the store cannot be
        opened yet, say why, and keep trying in the background: once it opens, alarms fire
        even if nobody calls."""
        try:
            await self._ensure_rebuilt()
        except StoreUnavailableError:
            if self._start_retry is None or self._start_retry.done():
                self._start_retry = asyncio.get_running_loop().create_task(self._start_when_store_opens())
            raise

    async def _start_when_store_opens(self) -> None:
        delay = 1.0
        while True:
            await asyncio.sleep(delay)
            try:
                await self._ensure_rebuilt()
                return
            except StoreUnavailableError:
                delay = min(2 * delay, 30.0)

    def _open_store(self) -> None:
        """Open the checkpoint store; if it cannot be, every request says why (a typed error, not
        a controller that dies and restarts forever) until a later request opens it."""
        try:
            self._store, self._store_error = open_store(self.config.store, self.config.namespace), None
        except Exception as exc:
            self._store_error = exc
            log.error("cannot open the checkpoint store: %s", exc)

    @property
    def store(self) -> CheckpointStore:
        if self._store is None:
            error = self._store_error
            if isinstance(error, StoreUnavailableError):
                raise StoreUnavailableError(error.message)
            raise StoreUnavailableError(f"cannot open the checkpoint store: {error!r}")
        return self._store

    # ---- rebuilding after a restart ------------------------------------------------------------

    async def _ensure_rebuilt(self) -> None:
        """Adopt live activations left by a previous controller; stop fenced-off zombies."""
        if self._store is None:
            async with self._store_lock:
                if self._store is None and time.monotonic() >= self._store_retry_at:
                    await asyncio.to_thread(self._open_store)
                    self._store_retry_at = time.monotonic() + 2.0
            self.store  # noqa: B018 - raises StoreUnavailableError if it still cannot be opened
        if self._rebuilt:
            return
        use_io_threads()
        async with self._rebuild_lock:
            if self._rebuilt:
                return
            entries = await asyncio.to_thread(ray.util.list_named_actors, all_namespaces=True)
            names = [e["name"] for e in entries if e["namespace"] == self.config.namespace]
            for legacy in [n for n in names if n.startswith(LEGACY_ACTOR_PREFIX)]:
                with contextlib.suppress(ValueError):
                    ray.kill(ray.get_actor(legacy, namespace=self.config.namespace), no_restart=True)
            dedicated = [n for n in names if n.startswith(DEDICATED_PREFIX)]
            pooled = [n for n in names if n.startswith(HOST_PREFIX)]
            results = await asyncio.gather(
                *(self._adopt_dedicated(name) for name in dedicated),
                *(self._adopt_pooled(name) for name in pooled),
                return_exceptions=True,  # one host that fails to answer must not stop the rebuild
            )
            for failure in [r for r in results if isinstance(r, BaseException)]:
                log.warning("rebuild: could not adopt a host: %r", failure)
            adopted = sum(r for r in results if isinstance(r, int))
            self._rebuilt = True
            self._wake_task = asyncio.get_running_loop().create_task(self._wake_loop())
            if adopted:
                log.info("rebuilt the directory: adopted %d live agents", adopted)

    async def _adopt_dedicated(self, name: str) -> int:
        """Adopt a dedicated host found by name: as the agent it carries if that is the current,
        ready activation; as a spare if it carries none; else (a zombie) stop it."""
        try:
            actor = ray.get_actor(name, namespace=self.config.namespace)
        except ValueError:
            return 0
        try:
            held = await asyncio.wait_for(actor.held.remote(), timeout=ADOPT_TIMEOUT)
            if not held:
                load = await asyncio.wait_for(actor.load.remote(), timeout=ADOPT_TIMEOUT)
                if load["activating"]:
                    held = []  # half-started by the previous controller: stopped below
                else:
                    self._dedicated.adopt(name, actor, load["node_id"])
                    return 0
        except (TimeoutError, RayActorError):
            held = []
        info = held[0] if len(held) == 1 else None
        if info is not None:
            current = await asyncio.to_thread(self.store.current_epoch, info["key"])
            if info["epoch"] != current or not info["ready"]:
                info = None  # fenced off, half-started by the previous controller, or retiring
        if info is None:
            ray.kill(actor, no_restart=True)
            log.warning("stopped dedicated host %s: it carried no current activation", name)
            return 0
        self._placements[info["key"]] = Placement(actor, info["epoch"], info["node_id"], time.time())
        return 1

    async def _adopt_pooled(self, name: str) -> int:
        """Adopt a pooled host and its current, ready activations; it drops the others."""
        try:
            actor = ray.get_actor(name, namespace=self.config.namespace)
            held = await asyncio.wait_for(actor.held.remote(), timeout=ADOPT_TIMEOUT)
            node_id = held[0]["node_id"] if held else (await actor.load.remote())["node_id"]
        except (ValueError, TimeoutError, RayActorError):
            return 0
        host = self._pool.adopt(name, actor, node_id)
        adopted = 0
        for info in held:
            key, epoch = info["key"], info["epoch"]
            current = await asyncio.to_thread(self.store.current_epoch, key)
            if epoch != current or not info["ready"] or key in self._placements:
                actor.drop.remote(key, epoch)
                continue
            self._placements[key] = Placement(actor, epoch, info["node_id"], time.time(), host=name)
            self._pool.place(host, key, split_key(key)[0])
            adopted += 1
        return adopted

    # ---- classes -----------------------------------------------------------------------------

    def _hosting(self, agent_cls: type[Agent]) -> Hosting:
        chosen = agent_cls.hosting if agent_cls.hosting is not None else self.config.hosting
        where = f"{agent_cls.__name__}.hosting" if agent_cls.hosting is not None else "the default hosting"
        return validate_hosting(chosen, where)

    # ---- activation --------------------------------------------------------------------------

    async def activate(self, requests: list[ActivationRequest]) -> list[Outcome]:
        """The live activation of each agent asked for: (host actor, epoch). A request is (class
        or its registered name, agent ID, stale epoch): the activation is created if there is
        none, or if the caller reports the one it had (`stale epoch`) as dead or going away.
        Callers batch concurrent requests; each succeeds or fails on its own."""
        return list(await asyncio.gather(*(self._activate_request(*r) for r in requests)))

    async def _activate_request(
        self, agent_cls: type[Agent] | str, agent_id: str, stale_epoch: int | None
    ) -> Outcome:
        try:
            validate_agent_id(agent_id)
            await self._ensure_rebuilt()
            known = await self._types.known(agent_cls)
            return outcome.success(await self._activate(known, agent_id, stale_epoch))
        except Exception as exc:
            return outcome.failure(exc)

    async def _activate(
        self, agent_cls: type[Agent], agent_id: str, stale: int | None, for_alarm: bool = False
    ) -> tuple[Any, int]:
        key = agent_key(agent_cls.type_name, agent_id)
        async with self._locks[key]:
            current = self._placements.get(key)
            if current is not None and (stale is None or current.epoch > stale):
                return current.actor, current.epoch
            if current is not None:  # stop the old activation: it must serve nobody any more
                self._forget(key)
                if current.host is None:
                    ray.kill(current.actor, no_restart=True)
                else:
                    await self._check_host(current)
                    current.actor.drop.remote(key, current.epoch)
            hosting = self._hosting(agent_cls)
            started = time.perf_counter()
            if hosting == "pooled":
                placement = await self._start_pooled(agent_cls, agent_id, key, for_alarm)
            else:
                placement = await self._start_dedicated(agent_cls, agent_id, key, for_alarm)
            epoch = placement.epoch
            self._placements[key] = placement
            self.activations += 1
            elapsed = time.perf_counter() - started
            self._wake_seconds[hosting] = 0.8 * self._wake_seconds[hosting] + 0.2 * elapsed
            log.log(
                logging.DEBUG if hosting == "pooled" else logging.INFO,
                "activated %s epoch %d (%s) on node %s in %.0f ms (%d live)",
                key,
                epoch,
                hosting,
                placement.node_id[:8],
                elapsed * 1000,
                len(self._placements),
            )
            return placement.actor, epoch

    async def _start_dedicated(
        self, agent_cls: type[Agent], agent_id: str, key: str, for_alarm: bool
    ) -> Placement:
        """Activate on a dedicated host of its own (a spare started ahead, if one is ready). The
        host takes the new epoch from the store, as a pooled one does: a retry on another host
        (this one died) gets a newer epoch, never the same one twice."""
        node_id = await self._choose_node(key)
        self._starting_on[node_id or ""] += 1
        try:
            return await self._start_dedicated_on(node_id, agent_cls, agent_id, key, for_alarm)
        finally:
            self._starting_on[node_id or ""] -= 1

    async def _start_dedicated_on(
        self, node_id: str | None, agent_cls: type[Agent], agent_id: str, key: str, for_alarm: bool
    ) -> Placement:
        for _ in range(3):
            name, actor = self._dedicated.take(node_id)
            try:
                info = (await actor.activate.remote([(agent_cls, agent_id, None, for_alarm)]))[0].unwrap()
            except RayActorError as exc:  # a spare that died (its node, an operator): take another
                log.warning("%s: dedicated host %s died while activating it: %s", key, name, exc)
                ray.kill(actor, no_restart=True)
                continue
            except ActivationError:
                ray.kill(actor, no_restart=True)
                raise
            except Exception as exc:
                ray.kill(actor, no_restart=True)
                raise ActivationError(f"{key}: activation failed: {exc!r}") from exc
            return Placement(actor, info["epoch"], info["node_id"], time.time())
        raise AgentUnavailableError(f"{key}: dedicated hosts kept dying while it was being activated")

    async def _start_pooled(
        self, agent_cls: type[Agent], agent_id: str, key: str, for_alarm: bool
    ) -> Placement:
        """Activate on a pooled host, which takes the new epoch from the store itself (under this
        controller's per-key lock, so still one activation at a time): the store round trip is
        spread over the hosts instead of queueing in the controller."""
        cls_name = agent_cls.type_name
        for _ in range(3):  # a host that died meanwhile is dropped and another one chosen
            host: PooledHost = await self._pool.choose(
                cls_name, agent_cls.max_agents_per_host, await self._alive()
            )
            self._pool.place(host, key, cls_name)  # counted at once, so concurrent choices spread
            try:
                order = (agent_cls, agent_id, None, for_alarm)
                info = (await self._orders_to(host).submit(order)).unwrap()
            except RayActorError:
                self._pool.unplace(host.name, key, cls_name)
                self._drop_host(host.name)
                continue
            except BaseException:
                self._pool.unplace(host.name, key, cls_name)
                raise
            host.node_id = info["node_id"]
            return Placement(host.actor, info["epoch"], info["node_id"], time.time(), host=host.name)
        raise AgentUnavailableError(f"{key}: pooled hosts kept dying while it was being activated")

    def _orders_to(self, host: PooledHost) -> Coalescer[ActivationOrder, Outcome]:
        """Activations for `host` sent together: a burst of new agents costs one call per host."""
        orders = self._host_orders.get(host.name)
        if orders is None:

            async def send(batch: list[ActivationOrder]) -> list[Outcome]:
                return await host.actor.activate.remote(batch)

            orders = self._host_orders[host.name] = Coalescer(send)
        return orders

    def _forget(self, key: str) -> None:
        placement = self._placements.pop(key, None)
        if placement is not None and placement.host is not None:
            self._pool.unplace(placement.host, key, split_key(key)[0])

    async def _check_host(self, placement: Placement) -> None:
        """A caller reported a pooled activation as dead: if its whole host is, drop the host (and
        every placement on it) at once, instead of when it is next chosen."""
        try:
            await asyncio.wait_for(placement.actor.load.remote(), 5)
        except RayActorError:
            if placement.host is not None:
                self._drop_host(placement.host)
        except TimeoutError:
            pass  # alive but busy: never kill on a hunch

    def _drop_host(self, name: str) -> None:
        """A pooled host died: forget it and every placement on it (their next call re-activates)."""
        self._pool.drop(name)
        self._host_orders.pop(name, None)
        for key in [k for k, p in self._placements.items() if p.host == name]:
            del self._placements[key]

    async def _alive(self) -> set[str]:
        """IDs of alive nodes, refreshed at most every NODES_TTL (not per activation)."""
        return set(await self._alive_memory())

    async def _alive_memory(self) -> dict[str, float]:
        """Alive nodes' IDs and their Ray `memory` resource, refreshed at most every NODES_TTL."""
        fetched, alive = self._nodes
        if time.monotonic() - fetched > NODES_TTL:
            nodes = await asyncio.to_thread(ray.nodes)
            alive = {n["NodeID"]: n["Resources"].get("memory", 0.0) for n in nodes if n["Alive"]}
            self._nodes = (time.monotonic(), alive)
            for key in [k for k, p in self._placements.items() if p.node_id not in alive]:
                self._forget(key)  # its node is gone; the next call re-activates it
            self._dedicated.forget_nodes(set(alive))
        return alive

    async def _choose_node(self, key: str) -> str | None:
        """The alive node with the fewest dedicated agents among those under their cap."""
        alive = await self._alive_memory()
        if not alive:
            return None
        load = Counter(p.node_id for p in self._placements.values() if p.host is None)
        load.update(self._starting_on)  # activations under way count: a burst must not overshoot
        roomy = [n for n, memory in alive.items() if load[n] < self._dedicated_cap(memory)]
        if not roomy:
            raise HostFullError(
                f"{key}: every node carries its cap of live dedicated agents; retry when some "
                "hibernate, raise RAY_AGENTS_MAX_DEDICATED_PER_NODE, or host the class pooled"
            )
        return min(roomy, key=lambda n: (load[n], random.random()))

    def _dedicated_cap(self, node_memory: float) -> int:
        return self.config.max_dedicated_per_node or max(1, int(node_memory // DEDICATED_AGENT_BYTES))

    # ---- alarms ------------------------------------------------------------------------------

    def _wake_lead(self, hosting: Hosting) -> float:
        """How far ahead of its alarm a hibernated agent is woken: one poll plus (a margin over)
        a recent wake time of its hosting mode, so its own timer fires on time."""
        return ALARM_POLL + min(5.0, self._wake_seconds[hosting] * 1.5)

    def _known_hosting(self, key: str) -> Hosting:
        agent_cls = self._types.get(split_key(key)[0])
        try:
            return self._hosting(agent_cls) if agent_cls is not None else "dedicated"
        except InvalidHostingError:
            return "dedicated"

    async def _wake_loop(self) -> None:
        """Wake hibernated (or dead) agents shortly before their alarm is due; live agents run
        their own timers."""
        while True:
            try:
                now = time.time()
                horizon = now + max(self._wake_lead(mode) for mode in self._wake_seconds)
                for key, due in await asyncio.to_thread(self.store.due_alarms, horizon, 1000):
                    placement = self._placements.get(key)
                    if key in self._waking or self._wake_cooldown.get(key, 0) > now:
                        continue
                    if due - now > self._wake_lead(self._known_hosting(key)):
                        continue  # not yet: this agent wakes faster than that
                    if placement is not None and now - due < OVERDUE_GRACE:
                        continue
                    self._waking.add(key)
                    task = asyncio.get_running_loop().create_task(self._wake(key, placement))
                    self._wake_tasks.add(task)
                    task.add_done_callback(self._wake_tasks.discard)
            except Exception:
                log.exception("alarm poll failed")
            await asyncio.sleep(ALARM_POLL)

    async def _wake(self, key: str, placement: Placement | None) -> None:
        try:
            type_name, agent_id = split_key(key)
            try:
                agent_cls = await self._types.by_name(type_name)
            except Exception as exc:  # unknown, or its stored class no longer loads
                log.error("cannot wake %s for its alarm: %s", key, exc)
                self._wake_cooldown[key] = time.time() + 60
                return
            async with self._wake_slots[self._hosting(agent_cls)]:
                stale = None
                if placement is not None:
                    try:
                        info = await asyncio.wait_for(
                            placement.actor.describe.remote(key, placement.epoch), 5
                        )
                        if not info.ok or not info.value["ready"]:  # retiring, retired or gone
                            stale = placement.epoch
                    except RayActorError:  # dead for sure: replace it below
                        stale = placement.epoch
                    except TimeoutError:  # alive but slow to answer: never kill on a hunch
                        log.warning("%s: alarm overdue; the agent is slow to answer, not replacing it", key)
                    if stale is None:
                        self._wake_cooldown[key] = time.time() + 5
                        return
                await self._activate(agent_cls, agent_id, stale, for_alarm=True)
                self.alarm_wakes += 1
        except InvalidHostingError:
            log.exception("cannot wake %s for its alarm", key)
            self._wake_cooldown[key] = time.time() + 60
        except Exception:
            log.exception("waking %s for its alarm failed", key)
            self._wake_cooldown[key] = time.time() + 5
        finally:
            self._waking.discard(key)

    async def release(self, key: str, epoch: int, reason: str, dedicated_host: str | None = None) -> None:
        """An activation retires (idle hibernation, eviction, destroy, failure): forget it, and
        stop its dedicated host if it had one, whether or not this controller knew it (it may
        have restarted meanwhile)."""
        await self._ensure_rebuilt()
        async with self._locks[key]:
            current = self._placements.get(key)
            if current is not None and current.epoch == epoch:
                self._forget(key)
        self.retirements[reason] += 1
        if dedicated_host is None:
            return
        try:
            actor = ray.get_actor(dedicated_host, namespace=self.config.namespace)
        except ValueError:
            return  # already gone
        log.info("released %s epoch %d (%s)", key, epoch, reason)
        await asyncio.sleep(RETIRE_GRACE)
        try:  # a restarted controller may have taken it as a spare since: then it lives on
            load = await asyncio.wait_for(actor.load.remote(), 5)
            if load["agents"] or load["activating"]:
                return
        except (TimeoutError, RayActorError):
            pass
        ray.kill(actor, no_restart=True)

    # ---- restore points (`cluster.restore_points`) ----------------------------------------------

    async def checkpoints(self, agent_cls: type[Agent] | str, agent_id: str) -> Outcome:
        """The agent's restore points (`CheckpointInfo`), oldest first."""
        return await self._restore_points.checkpoints(agent_cls, agent_id)

    async def restore(self, agent_cls: type[Agent] | str, agent_id: str, at: RestorePoint) -> Outcome:
        """Take the agent back to a restore point (`RestorePoints.restore`)."""
        return await self._restore_points.restore(agent_cls, agent_id, at)

    async def fork(
        self, agent_cls: type[Agent] | str, agent_id: str, new_id: str, at: RestorePoint | None
    ) -> Outcome:
        """Start agent `new_id` of the same class from a restore point of `agent_id`."""
        return await self._restore_points.fork(agent_cls, agent_id, new_id, at)

    async def destroy(self, agent_cls: type[Agent] | str, agent_id: str) -> Outcome:
        """Destroy the agent from outside, as `Agent.destroy()` does from inside."""
        return await self._restore_points.destroy(agent_cls, agent_id)

    # ---- introspection -----------------------------------------------------------------------

    async def live_epochs(self, keys: list[str]) -> dict[str, int]:
        """Epoch of each of these agents that is live now (cheap: Serve replicas poll it)."""
        await self._ensure_rebuilt()
        return {k: self._placements[k].epoch for k in keys if k in self._placements}

    async def host_of(self, key: str) -> Any:
        """The host actor carrying agent `key` now (None: it is not live)."""
        await self._ensure_rebuilt()
        placement = self._placements.get(key)
        return None if placement is None else placement.actor

    async def host_actors(self) -> list[Any]:
        """Every host actor carrying agents now: pooled hosts and the dedicated ones."""
        await self._ensure_rebuilt()
        pooled = [h.actor for h in self._pool.hosts.values()]
        return pooled + [p.actor for p in self._placements.values() if p.host is None]

    async def describe(self) -> dict[str, Any]:
        """Counts, live agents, hibernated (checkpointed, not live) agents and pooled hosts."""
        await self._ensure_rebuilt()
        stored = await asyncio.to_thread(self.store.keys)
        live = {
            key: {
                "type": split_key(key)[0],
                "id": split_key(key)[1],
                "epoch": p.epoch,
                "node_id": p.node_id,
                "host": p.host,
                "activated_at": p.activated_at,
            }
            for key, p in self._placements.items()
        }
        return {
            "activations": self.activations,
            "alarm_wakes": self.alarm_wakes,
            "retirements": dict(self.retirements),
            "live": live,
            "hibernated": [split_key(k) for k in stored if k not in live],
            "classes": self._types.names(),
            "hosts": {
                name: {"node_id": h.node_id, "agents": len(h.agents)} for name, h in self._pool.hosts.items()
            },
            "spares": self._dedicated.spares(),
        }
