"""The Ray actor that carries an agent activation, and its idle hibernation."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import ray

from agents.agent import Agent
from cluster import outcome, routing
from cluster.activation import Activation
from cluster.config import RuntimeConfig
from cluster.naming import CONTROLLER_NAME
from cluster.outcome import Outcome
from cluster.stores import open_store

log = logging.getLogger("ray_agents.host")

SCRATCH_ROOT = Path(tempfile.gettempdir()) / "ray-agents-scratch"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _scratch_dir(key: str) -> Path:
    """A private directory for this process's SQLite file; sweeps those of dead processes."""
    SCRATCH_ROOT.mkdir(parents=True, exist_ok=True)
    for old in SCRATCH_ROOT.iterdir():
        pid = old.name.partition("-")[0]
        if pid.isdigit() and not _pid_alive(int(pid)):
            shutil.rmtree(old, ignore_errors=True)
    return SCRATCH_ROOT / f"{os.getpid()}-{hashlib.sha256(key.encode()).hexdigest()[:16]}"


class AgentHost:
    """One agent activation in its own Ray actor process. Created only by the placement controller."""

    def __init__(self, agent_cls: type[Agent], agent_id: str, epoch: int, config: RuntimeConfig) -> None:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
        self._config = config
        routing.configure(config)  # calls this agent makes go to the same cluster and store
        store = open_store(config.store_url, config.namespace)
        key_hint = f"{agent_cls.__name__}/{agent_id}"
        self._activation = Activation(
            agent_cls, agent_id, epoch, store, _scratch_dir(key_hint), config.dedupe_window
        )
        self._watcher: asyncio.Task[None] | None = None
        self._retired = False

    async def start(self) -> Outcome:
        """Restore and run `on_start`; the controller waits for this before publishing the actor."""
        try:
            await self._activation.start()
        except Exception as exc:
            return outcome.failure(exc)
        self._watcher = asyncio.get_running_loop().create_task(self._watch_idle())
        return outcome.success(self.info())

    def info(self) -> dict[str, Any]:
        a = self._activation
        return {
            "key": a.key,
            "epoch": a.epoch,
            "pid": os.getpid(),
            "node_id": ray.get_runtime_context().get_node_id(),
            "ready": a.started and not a.closing,
            "checkpoints": a.checkpoints,
            "idle_seconds": a.idle_seconds(),
        }

    async def invoke(
        self, method: str, args: tuple, kwargs: dict, request_id: str | None, chain: tuple[str, ...]
    ) -> Outcome:
        result = await self._activation.invoke(method, args, kwargs, request_id, chain)
        if self._activation.destroyed:
            self._retire("destroyed")
        return result

    async def stream(
        self, method: str, args: tuple, kwargs: dict, chain: tuple[str, ...]
    ) -> AsyncIterator[Outcome]:
        async for item in self._activation.stream(method, args, kwargs, chain):
            yield item

    async def socket(self, op: str, *args: Any) -> Outcome:
        """Client connections and HTTP requests from Serve replicas (`cluster.sockets.SocketHub`)."""
        result = await self._activation.sockets.handle(op, *args)
        if self._activation.destroyed:
            self._retire("destroyed")
        return result

    async def subscribe(self, replica: str, conn_ids: list[str]) -> AsyncIterator[list]:
        """One replica's pushes to its connections, as a stream (call with num_returns="streaming")."""
        async for batch in self._activation.sockets.subscribe(replica, conn_ids):
            yield batch

    async def _watch_idle(self) -> None:
        """Retire when idle for `idle_timeout` (hibernation), or as soon as the activation closed
        for any other reason (destroyed, fenced, a failed checkpoint): never linger half-alive."""
        timeout = float(self._activation.agent_cls.idle_timeout)
        period = max(0.05, min(timeout / 4, 10.0))
        while True:
            await asyncio.sleep(period)
            if self._activation.closing:
                self._retire("destroyed" if self._activation.destroyed else "closed")
                return
            if self._activation.idle_seconds() >= timeout:
                await self._activation.close()
                self._retire("idle")
                return

    def _retire(self, reason: str) -> None:
        """Ask the controller to forget and stop this activation (it kills this process). Once."""
        if self._retired:
            return
        self._retired = True
        a = self._activation
        log.info("%s epoch %d: retiring (%s) after %d checkpoints", a.key, a.epoch, reason, a.checkpoints)
        with contextlib.suppress(Exception):
            controller = ray.get_actor(CONTROLLER_NAME, namespace=self._config.namespace)
            controller.release.remote(a.key, a.epoch, reason)
