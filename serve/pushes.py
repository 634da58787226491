"""Replica side of pushes: one streaming call per (replica, agent) carrying all of its sockets' frames.

A `Subscription` keeps `AgentHost.subscribe` open while the replica holds connections to that
agent. If the stream breaks because the agent's process died, it re-subscribes at once through
the router's failover (which re-creates the agent). If it ends cleanly (the agent hibernated), it
does not wake the agent: it waits until a client of this replica sends something (`wake`) or
the controller reports the agent live again (one batched poll per replica), then re-subscribes
and the pushes queued meanwhile are flushed.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Protocol

import ray
from ray.exceptions import RayActorError

from agents.agent import Agent
from agents.wire.retry import backoff
from cluster.naming import agent_key
from cluster.routing import Router

log = logging.getLogger("ray_agents.serve.pushes")

#: Seconds between polls of the controller for hibernated agents that came back.
POLL_INTERVAL = 0.5


class Receiver(Protocol):
    """A socket session as pushes see it."""

    conn_id: str

    def deliver(self, kind: str, payload: Any) -> None: ...


class Subscription:
    """The push stream of one agent to this replica."""

    def __init__(self, hub: PushHub, agent_cls: type[Agent], agent_id: str) -> None:
        self.hub = hub
        self.agent_cls = agent_cls
        self.agent_id = agent_id
        self.key = agent_key(agent_cls.type_name, agent_id)
        #: Sessions by connection ID: usually one; more while a connect naming an open
        #: connection's ID waits for the agent's verdict (`PushHub.claim`).
        self.receivers: dict[str, list[Receiver]] = {}
        #: Epoch of the activation whose stream ended cleanly; None while streaming.
        self.dormant_epoch: int | None = None
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    def wake(self) -> None:
        self._wake.set()

    def _dispatch(self, batch: list[tuple[str, tuple[str, ...], Any]]) -> None:
        for kind, conn_ids, payload in batch:
            for conn_id in conn_ids:
                for receiver in self.receivers.get(conn_id, ()):
                    receiver.deliver(kind, payload)

    async def _run(self) -> None:
        stale: int | None = None
        attempt = 0
        while self.receivers:
            epoch = None
            try:
                target = await self.hub.router.locate(self.agent_cls, self.agent_id, stale)
                epoch = target.epoch
                stream = target.actor.subscribe.options(num_returns="streaming").remote(
                    target.key, epoch, self.hub.replica, list(self.receivers), self.hub.actor
                )
                try:
                    async for ref in stream:
                        attempt = 0
                        self._dispatch(await ref)
                except asyncio.CancelledError:
                    ray.cancel(stream)
                    raise
            except RayActorError as exc:  # the agent's process died: re-subscribe (re-creates it)
                log.info("%s: push stream broke (%s); re-subscribing", self.key, type(exc).__name__)
                stale = epoch if epoch is not None else stale
                await asyncio.sleep(backoff(attempt))
                attempt += 1
                continue
            except Exception:
                log.exception("%s: cannot subscribe to pushes", self.key)
                await asyncio.sleep(backoff(attempt, base=0.1, cap=5.0))
                attempt += 1
                continue
            # Clean end: the agent hibernated. Wait for a reason to come back.
            stale = epoch
            self.dormant_epoch = epoch
            self._wake.clear()
            await self._wake.wait()
            self.dormant_epoch = None


class PushHub:
    """All push subscriptions of one replica process."""

    def __init__(self, router: Router, replica: str, actor: tuple[str, str] | None = None) -> None:
        self.router = router
        self.replica = replica
        #: (namespace, name) of this replica's Ray actor: agents look it up to tell it died.
        self.actor = actor
        self.subscriptions: dict[str, Subscription] = {}
        self._poller: asyncio.Task[None] | None = None

    def attach(self, agent_cls: type[Agent], agent_id: str, receiver: Receiver) -> Subscription:
        """Route this agent's pushes for `receiver.conn_id` to it (subscribing if needed)."""
        key = agent_key(agent_cls.type_name, agent_id)
        sub = self.subscriptions.get(key)
        if sub is None:
            sub = self.subscriptions[key] = Subscription(self, agent_cls, agent_id)
        sub.receivers.setdefault(receiver.conn_id, []).append(receiver)
        sub.start()
        if self._poller is None or self._poller.done():
            self._poller = asyncio.get_running_loop().create_task(self._poll())
        return sub

    def claim(self, sub: Subscription, receiver: Receiver) -> None:
        """The agent accepted `receiver`'s connect: it alone gets its connection's pushes now
        (a session it took the connection over from gets no more)."""
        sub.receivers[receiver.conn_id] = [receiver]

    def detach(self, sub: Subscription, receiver: Receiver) -> None:
        sessions = sub.receivers.get(receiver.conn_id, [])
        if receiver in sessions:
            sessions.remove(receiver)
        if not sessions:
            sub.receivers.pop(receiver.conn_id, None)
        if not sub.receivers:
            sub.stop()
            if self.subscriptions.get(sub.key) is sub:
                del self.subscriptions[sub.key]

    async def _poll(self) -> None:
        """Wake dormant subscriptions whose agent the controller reports live again."""
        while self.subscriptions:
            await asyncio.sleep(POLL_INTERVAL)
            dormant = {k: s for k, s in self.subscriptions.items() if s.dormant_epoch is not None}
            if not dormant:
                continue
            try:
                live = await self.router.controller().live_epochs.remote(list(dormant))
            except Exception as exc:
                log.warning("cannot poll the controller: %r", exc)
                continue
            for key, epoch in live.items():
                sub = dormant[key]
                if sub.dormant_epoch is not None and epoch > sub.dormant_epoch:
                    sub.wake()
