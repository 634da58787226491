"""Agent classes by their type name (`Agent.type_name`, the name in URLs)."""

from __future__ import annotations

from collections.abc import Iterable

from agents.agent import Agent
from agents.errors import TypeNameCollisionError, UnknownAgentClassError
from cluster.shipping import origin


class AgentRegistry:
    """The agent classes an ingress serves."""

    def __init__(self, classes: Iterable[type[Agent]]) -> None:
        self._by_name: dict[str, type[Agent]] = {}
        for cls in classes:
            name = cls.type_name
            held = self._by_name.get(name, cls)
            if held is not cls:
                raise TypeNameCollisionError.between(name, origin(held), origin(cls))
            self._by_name[name] = cls

    def get(self, name: str) -> type[Agent]:
        cls = self._by_name.get(name)
        if cls is None:
            raise UnknownAgentClassError(f"no agent class is served as {name!r}")
        return cls

    def names(self) -> list[str]:
        return sorted(self._by_name)
