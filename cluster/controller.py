"""The placement controller: the only creator of agent actors; one live activation per agent ID."""

from __future__ import annotations

import asyncio
import logging
import pickle
import random
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

import ray
from ray import cloudpickle
from ray.exceptions import RayActorError
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from agents.agent import Agent
from agents.errors import ActivationError, AgentUnavailableError, UnknownAgentClassError
from agents.ids import validate_agent_id
from cluster import outcome
from cluster.config import RuntimeConfig
from cluster.host import AgentHost
from cluster.logs import configure_actor_logging
from cluster.naming import actor_name, agent_key, class_name, parse_actor_name, split_key
from cluster.outcome import Outcome
from cluster.stores import open_store

log = logging.getLogger("ray_agents.controller")

#: Seconds a retired actor may finish replying before it is killed.
RETIRE_GRACE = 1.0
#: How often the alarm index is polled for hibernated agents to wake (bounds their alarm lateness).
ALARM_POLL = 0.2
#: A live agent whose alarm is overdue by this much is checked: its process may have died.
OVERDUE_GRACE = 2.0
#: A live agent that does not answer a restarted controller within this is replaced (its turns,
#: fenced off by the new epoch, can no longer checkpoint). Answers come between awaits, so only
#: an agent stuck in blocking code for this long is affected.
ADOPT_TIMEOUT = 30.0
#: Agents woken for alarms at once, so a burst of due alarms cannot swamp the cluster.
WAKE_CONCURRENCY = 4


@dataclass
class Placement:
    actor: Any
    epoch: int
    node_id: str
    activated_at: float


class PlacementController:
    """Detached, named actor. Placement policy: a new activation goes to the alive node with the
    fewest live agents (ties broken at random), as a soft preference so Ray may still place it
    elsewhere if that node cannot take it."""

    def __init__(self, config: RuntimeConfig) -> None:
        configure_actor_logging()
        self.config = config
        self.store = open_store(config.store_url, config.namespace)
        self._placements: dict[str, Placement] = {}
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._classes: dict[str, type[Agent]] = {}
        self._saved_classes: dict[str, bytes] = {}
        self._host = ray.remote(AgentHost)
        self._rebuild_lock = asyncio.Lock()
        self._rebuilt = False
        self.activations = 0
        self.alarm_wakes = 0
        self.retirements: Counter[str] = Counter()
        self._waking: set[str] = set()
        self._wake_slots = asyncio.Semaphore(WAKE_CONCURRENCY)
        self._wake_cooldown: dict[str, float] = {}
        self._wake_task: asyncio.Task[None] | None = None
        self._wake_tasks: set[asyncio.Task[None]] = set()
        # Rebuild and start polling alarms as soon as the actor is up: after a restart nobody may
        # call the controller for a long time, yet hibernated agents' alarms must still fire.
        ray.get_runtime_context().current_actor.start.remote()

    async def start(self) -> None:
        """Adopt surviving agents and start the alarm loop (idempotent)."""
        await self._ensure_rebuilt()

    # ---- rebuilding after a restart ------------------------------------------------------------

    async def _ensure_rebuilt(self) -> None:
        """Adopt live agent actors left by a previous controller; kill fenced-off zombies."""
        if self._rebuilt:
            return
        async with self._rebuild_lock:
            if self._rebuilt:
                return
            entries = await asyncio.to_thread(ray.util.list_named_actors, all_namespaces=True)
            found = [
                (entry["name"], parsed)
                for entry in entries
                if entry["namespace"] == self.config.namespace
                and (parsed := parse_actor_name(entry["name"])) is not None
            ]
            results = await asyncio.gather(*(self._adopt(name, key, epoch) for name, (key, epoch) in found))
            adopted = sum(results)
            self._rebuilt = True
            self._wake_task = asyncio.get_running_loop().create_task(self._wake_loop())
            if adopted:
                log.info("rebuilt placement view: adopted %d live agents", adopted)

    async def _adopt(self, name: str, key: str, epoch: int) -> bool:
        """Adopt one agent actor found by name if it is the current, ready activation; else kill it."""
        try:
            actor = ray.get_actor(name, namespace=self.config.namespace)
        except ValueError:
            return False
        current = await asyncio.to_thread(self.store.current_epoch, key)
        if epoch != current:
            ray.kill(actor, no_restart=True)
            log.warning("killed zombie %s epoch %d (current epoch %d)", key, epoch, current)
            return False
        try:
            info = await asyncio.wait_for(actor.info.remote(), timeout=ADOPT_TIMEOUT)
        except (TimeoutError, RayActorError):
            info = {"ready": False}
        if not info["ready"]:  # half-started by the previous controller, retiring, or unresponsive
            ray.kill(actor, no_restart=True)
            return False
        self._placements[key] = Placement(actor, epoch, info["node_id"], time.time())
        return True

    # ---- activation --------------------------------------------------------------------------

    async def _register(self, agent_cls: type[Agent]) -> None:
        """Make a class known by name (for callers that only have the name), and remember it in
        the store so a restarted controller can wake its agents for alarms."""
        name = class_name(agent_cls)
        self._classes[name] = agent_cls
        blob = cloudpickle.dumps(agent_cls)
        if self._saved_classes.get(name) != blob:
            await asyncio.to_thread(self.store.save_class, name, blob)
            self._saved_classes[name] = blob

    async def _class(self, name: str) -> type[Agent] | None:
        if name not in self._classes:
            blob = await asyncio.to_thread(self.store.load_class, name)
            if blob is None:
                return None
            self._classes[name] = pickle.loads(blob)
        return self._classes[name]

    async def activate(
        self, agent_cls: type[Agent] | str, agent_id: str, stale_epoch: int | None = None
    ) -> Outcome:
        """The live activation of an agent: (actor handle, epoch). Creates it if there is none, or
        if the caller reports the one it had (`stale_epoch`) as dead or going away."""
        try:
            validate_agent_id(agent_id)
            if isinstance(agent_cls, str):
                found = await self._class(agent_cls)
                if found is None:
                    raise UnknownAgentClassError(f"no agent class named {agent_cls!r} is registered")
                agent_cls = found
            else:
                await self._register(agent_cls)
            await self._ensure_rebuilt()
            return outcome.success(await self._activate(agent_cls, agent_id, stale_epoch))
        except Exception as exc:
            return outcome.failure(exc)

    async def _activate(self, agent_cls: type[Agent], agent_id: str, stale_epoch: int | None) -> tuple:
        key = agent_key(class_name(agent_cls), agent_id)
        async with self._locks[key]:
            current = self._placements.get(key)
            if current is not None and (stale_epoch is None or current.epoch > stale_epoch):
                return current.actor, current.epoch
            if current is not None:
                del self._placements[key]
                ray.kill(current.actor, no_restart=True)
            epoch = await asyncio.to_thread(self.store.bump_epoch, key)
            node_id = await self._choose_node()
            started = time.perf_counter()
            actor = self._host.options(
                name=actor_name(key, epoch),
                namespace=self.config.namespace,
                lifetime="detached",
                max_restarts=0,
                num_cpus=self.config.agent_num_cpus,
                scheduling_strategy=NodeAffinitySchedulingStrategy(node_id, soft=True) if node_id else None,
            ).remote(agent_cls, agent_id, epoch, self.config)
            try:
                info = (await actor.start.remote()).unwrap()
            except ActivationError:
                ray.kill(actor, no_restart=True)
                raise
            except RayActorError as exc:  # the new process died while starting: worth a retry
                raise AgentUnavailableError(f"{key}: activation died while starting: {exc}") from exc
            except Exception as exc:
                ray.kill(actor, no_restart=True)
                raise ActivationError(f"{key}: activation failed: {exc!r}") from exc
            self._placements[key] = Placement(actor, epoch, info["node_id"], time.time())
            self.activations += 1
            log.info(
                "activated %s epoch %d on node %s in %.0f ms (%d live)",
                key,
                epoch,
                info["node_id"][:8],
                (time.perf_counter() - started) * 1000,
                len(self._placements),
            )
            return actor, epoch

    async def _choose_node(self) -> str | None:
        nodes = await asyncio.to_thread(ray.nodes)
        alive = {n["NodeID"] for n in nodes if n["Alive"]}
        for key in [k for k, p in self._placements.items() if p.node_id not in alive]:
            del self._placements[key]  # its node is gone; the next call re-activates it
        if not alive:
            return None
        load = Counter(p.node_id for p in self._placements.values())
        return min(alive, key=lambda n: (load[n], random.random()))

    # ---- alarms ------------------------------------------------------------------------------

    async def _wake_loop(self) -> None:
        """Wake hibernated (or dead) agents whose alarm is due; live agents run their own timers."""
        while True:
            try:
                now = time.time()
                for key, due in await asyncio.to_thread(self.store.due_alarms, now, 200):
                    placement = self._placements.get(key)
                    if key in self._waking or self._wake_cooldown.get(key, 0) > now:
                        continue
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
            async with self._wake_slots:
                stale = None
                if placement is not None:
                    try:
                        info = await asyncio.wait_for(placement.actor.info.remote(), timeout=5)
                        if not info["ready"]:  # alive but retiring or retired: replace it
                            stale = placement.epoch
                    except RayActorError:  # dead for sure: replace it below
                        stale = placement.epoch
                    except TimeoutError:  # alive but slow to answer: never kill on a hunch
                        log.warning("%s: alarm overdue; the agent is slow to answer, not replacing it", key)
                    if stale is None:
                        self._wake_cooldown[key] = time.time() + 5
                        return
                cls_name, agent_id = split_key(key)
                agent_cls = await self._class(cls_name)
                if agent_cls is None:
                    log.error("cannot wake %s for its alarm: class %s is unknown", key, cls_name)
                    self._wake_cooldown[key] = time.time() + 60
                    return
                await self._activate(agent_cls, agent_id, stale)
                self.alarm_wakes += 1
        except Exception:
            log.exception("waking %s for its alarm failed", key)
            self._wake_cooldown[key] = time.time() + 5
        finally:
            self._waking.discard(key)

    async def release(self, key: str, epoch: int, reason: str) -> None:
        """An activation retires (idle hibernation, destroy, failure): forget it and stop its
        process, whether or not this controller knew it (it may have restarted meanwhile)."""
        await self._ensure_rebuilt()
        async with self._locks[key]:
            current = self._placements.get(key)
            if current is not None and current.epoch == epoch:
                del self._placements[key]
        try:
            actor = ray.get_actor(actor_name(key, epoch), namespace=self.config.namespace)
        except ValueError:
            return  # already gone
        self.retirements[reason] += 1
        log.info("released %s epoch %d (%s)", key, epoch, reason)
        await asyncio.sleep(RETIRE_GRACE)
        ray.kill(actor, no_restart=True)

    # ---- introspection -----------------------------------------------------------------------

    async def live_epochs(self, keys: list[str]) -> dict[str, int]:
        """Epoch of each of these agents that is live now (cheap: Serve replicas poll it)."""
        await self._ensure_rebuilt()
        return {k: self._placements[k].epoch for k in keys if k in self._placements}

    async def describe(self) -> dict[str, Any]:
        """Counts, live agents and hibernated (checkpointed, not live) agents."""
        await self._ensure_rebuilt()
        stored = await asyncio.to_thread(self.store.keys)
        live = {
            key: {
                "type": split_key(key)[0],
                "id": split_key(key)[1],
                "epoch": p.epoch,
                "node_id": p.node_id,
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
            "classes": sorted(self._classes),
        }
