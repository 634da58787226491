"""Agent classes by their type name (`Agent.type_name`, the name in URLs)."""

from __future__ import annotations

from collections.abc import Iterable

from agents.agent import Agent
from agents.errors import UnknownAgentClassError
from cluster.shipping import refuse_another_class


class AgentRegistry:
    """The agent classes an ingress serves."""

    def __init__(self, classes: Iterable[type[Agent]]) -> None:
        self._by_name: dict[str, type[Agent]] = {}
        for cls in classes:
            name = cls.type_name
            refuse_another_class(name, self._by_name.get(name, cls), cls)
            self._by_name[name] = cls

    def get(self, name: str) -> type[Agent]:
        cls = self._by_name.get(name)
        if cls is None:
            raise UnknownAgentClassError(f"no agent class is served as {name!r}")
        return cls

    def names(self) -> list[str]:
        return sorted(self._by_name)
