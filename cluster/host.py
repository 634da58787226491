"""The Ray actor that carries an agent activation, and its idle hibernation."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator
from typing import Any

import ray

from agents.agent import Agent
from agents.requests import Request
from cluster import outcome, routing
from cluster.activation import Activation
from cluster.config import RuntimeConfig
from cluster.lifecycle import ActivationState
from cluster.logs import configure_actor_logging
from cluster.naming import CONTROLLER_NAME
from cluster.outcome import Outcome
from cluster.sockets import Push
from cluster.stores import open_store

log = logging.getLogger("ray_agents.host")


class AgentHost:
    """One agent activation in its own Ray actor process. Created only by the placement controller.

    Its methods are what callers (routers, Serve replicas) invoke; each returns an `Outcome`.
    """

    def __init__(self, agent_cls: type[Agent], agent_id: str, epoch: int, config: RuntimeConfig) -> None:
        configure_actor_logging()
        self._config = config
        routing.configure(config)  # calls this agent makes go to the same cluster and store
        store = open_store(config.store_url, config.namespace)
        self._activation = Activation(agent_cls, agent_id, epoch, store, config.dedupe_window)
        self._watcher: asyncio.Task[None] | None = None

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
            "state": a.state.value,
            "ready": a.state.serving,
            "checkpoints": a.checkpoints,
            "idle_seconds": a.idle_seconds(),
        }

    # ---- calls -------------------------------------------------------------------------------

    async def invoke(
        self, method: str, args: tuple, kwargs: dict, request_id: str | None, chain: tuple[str, ...]
    ) -> Outcome:
        return self._after(await self._activation.invoke(method, args, kwargs, request_id, chain))

    async def stream(
        self, method: str, args: tuple, kwargs: dict, chain: tuple[str, ...]
    ) -> AsyncIterator[Outcome]:
        async for item in self._activation.stream(method, args, kwargs, chain):
            yield item

    # ---- client connections and HTTP, from Serve replicas (`cluster.sockets.SocketHub`) -------

    async def connect(self, request: Request, conn_id: str, replica: str) -> Outcome:
        return self._after(await self._activation.sockets.connect(request, conn_id, replica))

    async def message(self, conn_id: str, replica: str, data: str | bytes, request_id: str) -> Outcome:
        return self._after(await self._activation.sockets.message(conn_id, replica, data, request_id))

    async def disconnect(self, conn_id: str, code: int, reason: str) -> Outcome:
        return self._after(await self._activation.sockets.disconnect(conn_id, code, reason))

    async def set_client_state(self, conn_id: str, state: Any) -> Outcome:
        return self._after(await self._activation.sockets.set_state(conn_id, state))

    async def resync(self, conn_id: str) -> Outcome:
        return self._after(await self._activation.sockets.sync(conn_id))

    async def request(self, request: Request) -> Outcome:
        return self._after(await self._activation.sockets.request(request))

    async def authorize(self, request: Request) -> Outcome:
        return self._after(await self._activation.sockets.authorize(request))

    async def rpc(self, request: Request, method: str, args: tuple, kwargs: dict, request_id: str) -> Outcome:
        return self._after(await self._activation.sockets.rpc(request, method, args, kwargs, request_id))

    async def subscribe(self, replica: str, conn_ids: list[str]) -> AsyncIterator[list[Push]]:
        """One replica's pushes to its connections, as a stream (call with num_returns="streaming")."""
        async for batch in self._activation.sockets.subscribe(replica, conn_ids):
            yield batch

    def _after(self, result: Outcome) -> Outcome:
        if self._activation.state is ActivationState.DESTROYED:
            self._retire("destroyed")
        return result

    # ---- end of life -------------------------------------------------------------------------

    async def _watch_idle(self) -> None:
        """Retire when idle for `idle_timeout` (hibernation), or as soon as the activation closed
        for any other reason (destroyed, fenced, a failed checkpoint): never linger half-alive."""
        timeout = float(self._activation.agent_cls.idle_timeout)
        period = max(0.05, min(timeout / 4, 10.0))
        while True:
            await asyncio.sleep(period)
            state = self._activation.state
            if not state.serving:
                self._retire("destroyed" if state is ActivationState.DESTROYED else "closed")
                return
            if self._activation.idle_seconds() >= timeout:
                await self._activation.close()
                self._retire("idle")
                return

    def _retire(self, reason: str) -> None:
        """Ask the controller to forget and stop this activation (it kills this process). Once."""
        a = self._activation
        if a.state is ActivationState.RETIRED:
            return
        a.state = ActivationState.RETIRED
        log.info("%s epoch %d: retiring (%s) after %d checkpoints", a.key, a.epoch, reason, a.checkpoints)
        with contextlib.suppress(Exception):
            controller = ray.get_actor(CONTROLLER_NAME, namespace=self._config.namespace)
            controller.release.remote(a.key, a.epoch, reason)
