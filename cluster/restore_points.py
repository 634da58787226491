"""The placement controller's operations on an agent's restore points: list them, restore one,
fork a new agent from one, and destroy an agent with its history. Each stops the agent's live
activation first (what it acknowledged is stored), bumps its epoch (fencing any zombie) and
only then changes the store, under the agent's lock in the controller.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from agents.agent import Agent
from agents.checkpoints import RestorePoint
from agents.errors import AgentExistsError
from agents.ids import validate_agent_id
from cluster import history, outcome
from cluster.naming import agent_key
from cluster.outcome import Outcome

if TYPE_CHECKING:
    from cluster.controller import PlacementController

log = logging.getLogger("ray_agents.controller")

#: How long a restore waits for the agent's activation to hibernate (its epoch is bumped after).
STOP_TIMEOUT = 30.0


class RestorePoints:
    """The restore-point operations of one controller (`PlacementController` delegates to it)."""

    def __init__(self, controller: PlacementController) -> None:
        self._c = controller

    async def checkpoints(self, agent_cls: type[Agent] | str, agent_id: str) -> Outcome:
        """The agent's restore points (`CheckpointInfo`), oldest first."""
        try:
            await self._c._ensure_rebuilt()
            key = agent_key((await self._c._types.known(agent_cls)).type_name, validate_agent_id(agent_id))
            return outcome.success(await asyncio.to_thread(history.list_checkpoints, self._c.store, key))
        except Exception as exc:
            return outcome.failure(exc)

    async def restore(self, agent_cls: type[Agent] | str, agent_id: str, at: RestorePoint) -> Outcome:
        """Take the agent back to a restore point: its activation is stopped (what it acknowledged
        is stored), its epoch bumped, the chosen checkpoint written as its latest; then it is
        woken from it (its schedules re-armed)."""
        try:
            await self._c._ensure_rebuilt()
            known = await self._c._types.known(agent_cls)
            key = agent_key(known.type_name, validate_agent_id(agent_id))
            retention = known.checkpoint_retention
            # Refuse before any change.
            await asyncio.to_thread(history.find, self._c.store, key, at, retention)
            async with self._c._locks[key]:
                await self._stop(key)
                epoch = await asyncio.to_thread(self._c.store.bump_epoch, key)
                restored = await asyncio.to_thread(history.restore, self._c.store, key, epoch, at, retention)
            await self._c._activate(known, agent_id, None)
            return outcome.success(restored)
        except Exception as exc:
            return outcome.failure(exc)

    async def fork(
        self, agent_cls: type[Agent] | str, agent_id: str, new_id: str, at: RestorePoint | None
    ) -> Outcome:
        """Start agent `new_id` of the same class from a restore point of `agent_id` (None: its
        latest checkpoint). Refused if `new_id` exists."""
        try:
            await self._c._ensure_rebuilt()
            known = await self._c._types.known(agent_cls)
            source = agent_key(known.type_name, validate_agent_id(agent_id))
            target = agent_key(known.type_name, validate_agent_id(new_id))
            if target == source:
                raise AgentExistsError(f"cannot fork {source} onto itself")
            retention = known.checkpoint_retention
            async with self._c._locks[target]:
                if target in self._c._placements:
                    raise AgentExistsError(f"cannot fork onto {target}: an agent with that ID exists (live)")
                await asyncio.to_thread(history.fork_source, self._c.store, source, target, at, retention)
                epoch = await asyncio.to_thread(self._c.store.bump_epoch, target)
                await asyncio.to_thread(history.fork, self._c.store, source, target, epoch, at, retention)
            await self._c._activate(known, new_id, None)
            return outcome.success(None)
        except Exception as exc:
            return outcome.failure(exc)

    async def destroy(self, agent_cls: type[Agent] | str, agent_id: str) -> Outcome:
        """Destroy the agent from outside, as `Agent.destroy()` does from inside: its activation
        is stopped, its epoch bumped (fencing any zombie), its checkpoint, history and alarm
        deleted. A later call starts it afresh; restore and fork are refused."""
        try:
            await self._c._ensure_rebuilt()
            key = agent_key((await self._c._types.known(agent_cls)).type_name, validate_agent_id(agent_id))
            async with self._c._locks[key]:
                await self._stop(key)
                epoch = await asyncio.to_thread(self._c.store.bump_epoch, key)
                await asyncio.to_thread(history.destroy, self._c.store, key, epoch)
            return outcome.success(None)
        except Exception as exc:
            return outcome.failure(exc)

    async def _stop(self, key: str) -> None:
        """Hibernate the agent's activation, if it has one, and wait for it (call under its lock)."""
        current = self._c._placements.get(key)
        if current is None:
            return
        self._c._forget(key)
        try:
            await asyncio.wait_for(current.actor.drop.remote(key, current.epoch), STOP_TIMEOUT)
        except Exception as exc:  # the epoch bump that follows fences it anyway
            log.warning("%s: could not stop epoch %d cleanly: %r", key, current.epoch, exc)
