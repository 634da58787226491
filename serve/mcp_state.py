"""The MCP resource of an agent's state (`Agent.mcp_state_resource`): one per agent, its
committed state as JSON."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import mcp_types as types
from mcp.shared.exceptions import MCPError

MIME_TYPE = "application/json"


def uri(type_name: str, agent_id: str) -> str:
    """`agent://{type_name}/{id}/state`, the ID percent-encoded (it may hold '/')."""
    return f"agent://{type_name}/{quote(agent_id, safe='')}/state"


def resource(type_name: str, agent_id: str) -> types.Resource:
    return types.Resource(
        uri=uri(type_name, agent_id),
        name="state",
        description=f"The committed state of {type_name} agent {agent_id!r}, as JSON",
        mime_type=MIME_TYPE,
    )


def check(type_name: str, agent_id: str, requested: str) -> None:
    """Refuse a URI that is not this agent's state, as the SDK refuses unknown resources."""
    if requested != uri(type_name, agent_id):
        raise MCPError(types.INVALID_PARAMS, f"Unknown resource: {requested}")


def contents(type_name: str, agent_id: str, state: Any) -> types.ReadResourceResult:
    """The read's result: the state as JSON text."""
    text = json.dumps(state)
    return types.ReadResourceResult(
        contents=[types.TextResourceContents(uri=uri(type_name, agent_id), mime_type=MIME_TYPE, text=text)]
    )
