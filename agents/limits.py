"""Per-agent size limits: their defaults, how each size is measured, and the typed refusals.

An agent class sets them as class attributes (None: no limit):

- `max_state_bytes`: the state, msgpack-encoded as checkpoints hold it (`StateTooLargeError`);
- `max_database_bytes`: the SQLite database, enforced by SQLite (`DatabaseFullError`);
- `max_chunk_bytes`: each item a streaming method yields, as JSON (`ChunkTooLargeError`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pydantic_core

from agents.errors import ChunkTooLargeError, DatabaseFullError, StateTooLargeError
from agents.wire.protocol import MAX_FRAME_BYTES

if TYPE_CHECKING:
    from agents.agent import Agent

KIB, MIB, GIB = 1 << 10, 1 << 20, 1 << 30

#: Half the 1 MiB frame limit of WebSocket clients (`MAX_FRAME_BYTES`, the `websockets` default):
#: a client gets the whole state as JSON in one frame when it connects, and JSON is larger than
#: the msgpack measured here (a few percent for text, 2-4x for long lists of small numbers).
MAX_STATE_BYTES = MAX_FRAME_BYTES // 2
#: Room for real per-agent data, while one agent cannot fill a host's disk or the store by mistake.
MAX_DATABASE_BYTES = GIB
#: The arguments of one MCP tool call or prompt (`Agent.mcp_max_argument_bytes`), as JSON: what one
#: client frame can bring in; an agent has no reason to send a server more in one call.
MAX_MCP_ARGUMENT_BYTES = MAX_FRAME_BYTES
#: The frame limit less room for the `chunk` frame around the item (its type and call id: < 1 KiB).
MAX_CHUNK_BYTES = MAX_FRAME_BYTES - 4 * KIB


@dataclass(frozen=True)
class SizeLimits:
    """The limits of one agent class (`owner`, its name), and the refusals that name them."""

    owner: str
    max_state_bytes: int | None = None
    max_database_bytes: int | None = None
    max_chunk_bytes: int | None = None

    @classmethod
    def of(cls, agent_cls: type[Agent]) -> SizeLimits:
        """The limits an agent class sets (or inherits from `Agent`)."""
        return cls(
            agent_cls.__name__,
            agent_cls.max_state_bytes,
            agent_cls.max_database_bytes,
            agent_cls.max_chunk_bytes,
        )

    def check_state(self, encoded: bytes) -> None:
        """Refuse a state whose encoding is over `max_state_bytes`."""
        if self.max_state_bytes is not None and len(encoded) > self.max_state_bytes:
            raise StateTooLargeError(
                f"{self.owner} state would be {_exactly(len(encoded))} encoded, over its limit of "
                f"{self._limit('max_state_bytes')}: keep bulk data in `self.sql`, or raise the limit"
            )

    def check_item(self, item: Any) -> None:
        """Refuse a streamed item over `max_chunk_bytes` as JSON (measured only under a limit)."""
        if self.max_chunk_bytes is None:
            return
        if isinstance(item, str) and 6 * len(item) + 2 <= self.max_chunk_bytes:
            return  # no JSON string is longer (each character at most a 6-byte escape)
        self.check_chunk(json_size(item))

    def check_chunk(self, size: int) -> None:
        """Refuse a streamed item of `size` bytes as JSON if it is over `max_chunk_bytes`."""
        if self.max_chunk_bytes is not None and size > self.max_chunk_bytes:
            raise ChunkTooLargeError(
                f"{self.owner} streamed an item of {_exactly(size)} as JSON, over its limit of "
                f"{self._limit('max_chunk_bytes')}: yield it in smaller pieces, or raise the "
                "limit; the stream ends here"
            )

    def database_full(self) -> DatabaseFullError:
        """The refusal of a statement that found the database full: one that would grow it past
        `max_database_bytes` (or, without a limit, past what the disk holds)."""
        if self.max_database_bytes is None:
            return DatabaseFullError(
                f"{self.owner} database is full (the disk holding it is), so its turn is rolled back"
            )
        return DatabaseFullError(
            f"{self.owner} database may not grow past {self._limit('max_database_bytes')}: the "
            "statement needs more room, so its turn is rolled back; delete rows (their pages are "
            "reused) or raise the limit"
        )

    def _limit(self, attribute: str) -> str:
        """A limit and where it is set: 4 KiB (4096 bytes, `Bounded.max_state_bytes`)."""
        return _exactly(getattr(self, attribute), f"`{self.owner}.{attribute}`")


def json_size(value: Any) -> int:
    """Bytes of `value` as JSON, as the ingress sends it (what JSON cannot hold: as its repr;
    bytes that are not UTF-8: as base64)."""
    try:
        return len(pydantic_core.to_json(value, fallback=repr))
    except pydantic_core.PydanticSerializationError:
        return len(pydantic_core.to_json(value, fallback=repr, bytes_mode="base64"))


def describe(size: int) -> str:
    """A size for people: `4 KiB`, `5.1 KiB`, `300 bytes`."""
    for unit, name in ((GIB, "GiB"), (MIB, "MiB"), (KIB, "KiB")):
        if size >= unit:
            return f"{size // unit} {name}" if size % unit == 0 else f"{size / unit:.1f} {name}"
    return f"{size} bytes"


def _exactly(size: int, *notes: str) -> str:
    """`5.1 KiB (5222 bytes)`, with `notes` in the parenthesis; `300 bytes` needs none."""
    exact = [f"{size} bytes"] if size >= KIB else []
    return f"{describe(size)} ({', '.join(exact + list(notes))})" if exact or notes else describe(size)
