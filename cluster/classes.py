"""The controller's agent types: each type name belongs to one class, remembered in the store.

A class arrives with each activation request (by value for user code: `cluster.shipping`); a
name arrives from string handles and from the alarm index. A type name is held by one class
(`module.QualName`) for good, across controllers and processes: another class claiming it is
refused (`TypeNameCollisionError`), never given the first one's agents.
"""

from __future__ import annotations

import asyncio
import logging
import pickle
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from ray import cloudpickle

from agents.agent import Agent
from agents.errors import ActivationError, UnknownAgentClassError
from cluster.shipping import code_digest, origin, refuse_another_class
from cluster.stores import CheckpointStore

log = logging.getLogger("ray_agents.controller")


class AgentTypes:
    """Type name -> class, loaded from the store on demand and saved when a class is new or changed."""

    def __init__(self, store: Callable[[], CheckpointStore], check: Callable[[type[Agent]], Any]) -> None:
        #: The store (opened lazily by the controller) and a check a class must pass to register.
        self._store, self._check = store, check
        self._classes: dict[str, type[Agent]] = {}
        #: One registration of a name at a time: two classes racing for it cannot both win.
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    def get(self, name: str) -> type[Agent] | None:
        """The class registered under `name` in this controller's memory, if any."""
        return self._classes.get(name)

    def names(self) -> list[str]:
        return sorted(self._classes)

    async def by_name(self, name: str) -> type[Agent]:
        """The class registered under `name` (here, or by an earlier controller)."""
        found = await self._load(name)
        if found is None:
            raise UnknownAgentClassError(f"no agent type named {name!r} is registered")
        if found.type_name != name:  # stored by an older version under its class name
            raise UnknownAgentClassError(
                f"agent type {name!r} was registered by an earlier ray-agents; {origin(found)} is now "
                f"{found.type_name!r}: set `type_name = {name!r}` on it to reach these agents"
            )
        return found

    async def known(self, agent_cls: type[Agent] | str) -> type[Agent]:
        """The class a request names, registering a class (or a new version of it) not seen before."""
        if isinstance(agent_cls, str):
            return await self.by_name(agent_cls)
        name = agent_cls.type_name
        if self._classes.get(name) is agent_cls:
            return agent_cls
        async with self._locks[name]:
            held = self._classes.get(name)
            if held is None:
                held = await self._load_quietly(name)
            if held is not None:
                refuse_another_class(name, held, agent_cls)
            else:
                await self._refuse_older_names(agent_cls)
            self._check(agent_cls)
            if held is None or code_digest(held) != code_digest(agent_cls) or code_digest(agent_cls) is None:
                await self._save(agent_cls)
            self._classes[name] = agent_cls
        return agent_cls

    async def _save(self, agent_cls: type[Agent]) -> None:
        try:
            blob = cloudpickle.dumps(agent_cls)
        except Exception as exc:
            raise ActivationError(
                f"agent class {origin(agent_cls)} cannot be pickled to its hosts: {exc!r}"
            ) from exc
        await asyncio.to_thread(self._store().save_class, agent_cls.type_name, blob)

    async def _load(self, name: str) -> type[Agent] | None:
        if name not in self._classes:
            blob = await asyncio.to_thread(self._store().load_class, name)
            if blob is None:
                return None
            self._classes[name] = pickle.loads(blob)
        return self._classes[name]

    async def _load_quietly(self, name: str) -> type[Agent] | None:
        """The stored registration, or None if there is none or its class cannot be loaded any
        more (an installed class whose module is gone: the new class takes the name). A store
        that cannot be read fails the request: the name may well be taken."""
        try:
            return await self._load(name)
        except (ImportError, AttributeError, pickle.UnpicklingError) as exc:
            log.warning("agent type %r: the stored class cannot be loaded (%r); replacing it", name, exc)
            return None

    async def _refuse_older_names(self, agent_cls: type[Agent]) -> None:
        """Earlier versions keyed agents by the class's `__name__` ("ChatRoom/alice"). A class whose
        derived type name differs, in a store holding that older registration, must choose."""
        old, name = agent_cls.__name__, agent_cls.type_name
        if agent_cls._type_name_chosen or old == name:
            return
        if await asyncio.to_thread(self._store().load_class, old) is None:
            return
        raise ActivationError(
            f"this store holds agents of type {old!r} from an earlier ray-agents, which named types "
            f"after their class; {origin(agent_cls)} is now {name!r} by default. Set "
            f"`type_name = {old!r}` on the class to keep those agents, or `type_name = {name!r}` "
            "to start afresh"
        )
