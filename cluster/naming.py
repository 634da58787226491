"""Agent keys, Ray actor names and ID rules."""

from __future__ import annotations

import re
from urllib.parse import quote, unquote

from agents.errors import InvalidAgentIdError

MAX_ID_LENGTH = 256
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

CONTROLLER_NAME = "ray-agents-controller"
ACTOR_PREFIX = "agent:"


def class_name(agent_cls: type) -> str:
    """The name an agent class is registered under (its Python class name)."""
    return agent_cls.__name__


def validate_agent_id(agent_id: object) -> str:
    """Return the ID if it is a usable agent ID, else raise InvalidAgentIdError."""
    if not isinstance(agent_id, str):
        raise InvalidAgentIdError(f"agent ID must be a string, got {type(agent_id).__name__}")
    if not agent_id:
        raise InvalidAgentIdError("agent ID must not be empty")
    if len(agent_id) > MAX_ID_LENGTH:
        raise InvalidAgentIdError(f"agent ID is longer than {MAX_ID_LENGTH} characters")
    if _CONTROL.search(agent_id):
        raise InvalidAgentIdError("agent ID must not contain control characters")
    return agent_id


def agent_key(cls_name: str, agent_id: str) -> str:
    """The cluster-wide key of one agent: `Class/escaped-id` (the ID may contain '/')."""
    return f"{cls_name}/{quote(agent_id, safe='')}"


def split_key(key: str) -> tuple[str, str]:
    """Inverse of `agent_key`."""
    cls_name, _, escaped = key.partition("/")
    return cls_name, unquote(escaped)


def actor_name(key: str, epoch: int) -> str:
    """Ray actor name of one activation. The epoch makes a re-activation never collide with a
    dying predecessor's name, and lets a restarted controller tell current actors from zombies."""
    return f"{ACTOR_PREFIX}{key}@{epoch}"


def parse_actor_name(name: str) -> tuple[str, int] | None:
    """(key, epoch) of an agent actor name, or None for other actors."""
    if not name.startswith(ACTOR_PREFIX) or "@" not in name:
        return None
    key, _, epoch = name[len(ACTOR_PREFIX) :].rpartition("@")
    return (key, int(epoch)) if epoch.isdigit() else None
