"""Agent keys and Ray actor names (the ID rules are `agents.ids`)."""

from __future__ import annotations

from urllib.parse import quote, unquote

CONTROLLER_NAME = "ray-agents-controller"
#: Names of pooled host actors (each carries many agents): `ray-agents-host:<id>`.
HOST_PREFIX = "ray-agents-host:"
#: Names of dedicated host actors (one agent each, started ahead: `cluster.spares`).
DEDICATED_PREFIX = "ray-agents-dedicated:"
#: Names of an older version's dedicated actors (`agent:Key@epoch`): a controller stops them.
LEGACY_ACTOR_PREFIX = "agent:"


def agent_key(cls_name: str, agent_id: str) -> str:
    """The cluster-wide key of one agent: `Class/escaped-id` (the ID may contain '/')."""
    return f"{cls_name}/{quote(agent_id, safe='')}"


def split_key(key: str) -> tuple[str, str]:
    """Inverse of `agent_key`."""
    cls_name, _, escaped = key.partition("/")
    return cls_name, unquote(escaped)
