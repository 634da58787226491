"""What makes a usable agent ID."""

from __future__ import annotations

import re

from agents.errors import InvalidAgentIdError

MAX_ID_LENGTH = 256
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


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
