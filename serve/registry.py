"""Agent classes by the name they have in URLs."""

from __future__ import annotations

import re
from collections.abc import Iterable

from agents.agent import Agent
from agents.errors import UnknownAgentClassError


def url_name(agent_cls: type[Agent]) -> str:
    """`url_name` if the class sets one, else its name in kebab-case (ChatRoom -> chat-room)."""
    if agent_cls.url_name:
        return agent_cls.url_name
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "-", agent_cls.__name__).lower()


class AgentRegistry:
    """The agent classes an ingress serves."""

    def __init__(self, classes: Iterable[type[Agent]]) -> None:
        self._by_name: dict[str, type[Agent]] = {}
        for cls in classes:
            name = url_name(cls)
            if name in self._by_name and self._by_name[name] is not cls:
                raise ValueError(f"two agent classes are named {name!r} in URLs")
            self._by_name[name] = cls

    def get(self, name: str) -> type[Agent]:
        cls = self._by_name.get(name)
        if cls is None:
            raise UnknownAgentClassError(f"no agent class is served as {name!r}")
        return cls

    def names(self) -> list[str]:
        return sorted(self._by_name)
