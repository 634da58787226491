"""What makes a usable agent ID and agent type name."""

from __future__ import annotations

import re

from agents.errors import InvalidAgentIdError

MAX_ID_LENGTH = 256
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
#: Type names go into keys, URL paths and CLI arguments: a letter, then letters, digits, `-_.`.
_TYPE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,63}")
_WORD_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def derived_type_name(class_name: str) -> str:
    """The type name a class gets unless it sets one: its name in kebab-case (ChatRoom -> chat-room)."""
    return _WORD_BOUNDARY.sub("-", class_name).lower()


def validate_type_name(name: object, where: str) -> str:
    """Return the name if it is a usable agent type name, else raise TypeError naming `where`."""
    if not isinstance(name, str) or not _TYPE_NAME.fullmatch(name):
        raise TypeError(
            f"{where} must be a letter followed by up to 63 letters, digits, '-', '_' or '.'; got {name!r}"
        )
    return name


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
    try:
        agent_id.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidAgentIdError("agent ID must be valid Unicode (it has a lone surrogate)") from None
    return agent_id
