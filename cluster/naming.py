"""Agent keys and Ray actor names (the ID rules are `agents.ids`)."""

from __future__ import annotations

from urllib.parse import quote, unquote

CONTROLLER_NAME = "ray-agents-controller"
ACTOR_PREFIX = "agent:"
#: Names of pooled host actors (each carries many agents): `ray-agents-host:<id>`.
HOST_PREFIX = "ray-agents-host:"


def class_name(agent_cls: type) -> str:
    """The name an agent class is registered under (its Python class name)."""
    return agent_cls.__name__


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
