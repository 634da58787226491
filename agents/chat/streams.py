"""Chat streams in SQL: one row per stream (its status and loop position) and its chunk log.

Chunks are written as they are yielded, each within the agent's `max_chunk_bytes`: a longer
text delta goes out as several `Text` chunks, a longer tool result is cut and says so, and any
other chunk over it is refused before it is logged, so `resume` never meets a chunk it cannot
send. Sequence numbers are leased in blocks: before a chunk beyond the lease goes out, a new
lease is checkpointed, so a stream redone after a crash continues above every number a client
may have seen (`Rewind` tells it what to drop).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from agents.chat.chunks import CHUNK, Chunk, Status, Text, ToolResultChunk
from agents.chat.history import Sql
from agents.limits import SizeLimits, json_size

#: Sequence numbers per lease: one checkpoint per this many chunks, besides those at step ends.
LEASE = 64
#: More than a chunk's JSON takes besides its text (type, stream id, sequence number, is_error).
ENVELOPE = 1024
#: What ends a tool result cut to fit a chunk, and the room kept for it (as JSON).
CUT_NOTE = "\n[cut: the result was {size} bytes as JSON, over this agent's max_chunk_bytes ({limit})]"
CUT_NOTE_ROOM = 256
#: A sequence number with more digits than any stream reaches (to measure a chunk before numbering).
_LONGEST_SEQ = 2**53

_TABLES = (
    """CREATE TABLE IF NOT EXISTS _chat_streams(
        id TEXT PRIMARY KEY, status TEXT NOT NULL, seq INTEGER NOT NULL, lease INTEGER NOT NULL,
        steps INTEGER NOT NULL, recoveries INTEGER NOT NULL, awaiting TEXT, decisions TEXT NOT NULL,
        created REAL NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS _chat_chunks(
        stream_id TEXT NOT NULL, seq INTEGER NOT NULL, chunk TEXT NOT NULL, PRIMARY KEY(stream_id, seq))""",
)

#: While "streaming" a stream is being written by the running turn; seen from any other turn,
#: "streaming" means the turn that wrote it died.
StreamStatus = Literal["streaming"] | Status


@dataclass
class Stream:
    """One stream's row. `decisions` maps call IDs to {"approved": bool, "reason": str}."""

    id: str
    status: StreamStatus = "streaming"
    seq: int = 0
    lease: int = 0
    steps: int = 0
    recoveries: int = 0
    awaiting: str | None = None
    decisions: dict[str, dict[str, Any]] = field(default_factory=dict)


class StreamLog:
    """Streams and their chunks; `commit` checkpoints the turn so far (`commit_progress`)."""

    def __init__(self, sql: Sql, commit: Callable[[], Awaitable[None]], limits: SizeLimits) -> None:
        self._sql = sql
        self._commit = commit
        self._limits = limits

    def create(self) -> None:
        for statement in _TABLES:
            self._sql(statement)

    def open(self) -> Stream:
        stream = Stream(id=uuid.uuid4().hex[:16])
        self._sql(
            "INSERT INTO _chat_streams VALUES (?, ?, 0, 0, 0, 0, NULL, '{}', ?)",
            stream.id,
            stream.status,
            time.time(),
        )
        return stream

    def save(self, stream: Stream) -> None:
        self._sql(
            "UPDATE _chat_streams SET status=?, seq=?, lease=?, steps=?, recoveries=?, awaiting=?, "
            "decisions=? WHERE id=?",
            stream.status,
            stream.seq,
            stream.lease,
            stream.steps,
            stream.recoveries,
            stream.awaiting,
            json.dumps(stream.decisions),
            stream.id,
        )

    def get(self, stream_id: str) -> Stream | None:
        rows = self._sql("SELECT * FROM _chat_streams WHERE id = ?", stream_id)
        return _stream(rows[0]) if rows else None

    def with_status(self, status: StreamStatus) -> list[Stream]:
        rows = self._sql("SELECT * FROM _chat_streams WHERE status = ? ORDER BY rowid", status)
        return [_stream(row) for row in rows]

    def awaiting(self, call_id: str) -> Stream | None:
        rows = self._sql(
            "SELECT * FROM _chat_streams WHERE awaiting = ? AND status = 'awaiting_approval'", call_id
        )
        return _stream(rows[0]) if rows else None

    def text_pieces(self, stream: Stream, delta: str) -> list[str]:
        """`delta` in consecutive pieces whose `Text` chunks fit `max_chunk_bytes` (usually one)."""
        limit = self._limits.max_chunk_bytes
        if limit is None or 6 * len(delta) + ENVELOPE <= limit:
            return [delta]  # the usual token: no JSON of it can be over (6 bytes per character at most)
        empty = Text(stream_id=stream.id, seq=_LONGEST_SEQ, delta="")
        return _cut(delta, limit - (len(empty.model_dump_json().encode()) - len('""')))

    def fitting_result(self, stream: Stream, call_id: str, name: str, text: str) -> str:
        """A tool's result text, cut (and saying so) if its `tool_result` chunk would be over
        `max_chunk_bytes`: the model and the clients see the same text, and the stream goes on."""
        limit = self._limits.max_chunk_bytes
        if limit is None or 6 * (len(text) + len(name) + len(call_id)) + ENVELOPE <= limit:
            return text
        empty = ToolResultChunk(stream_id=stream.id, seq=_LONGEST_SEQ, call_id=call_id, name=name, result="")
        room = limit - (len(empty.model_dump_json().encode()) - len('""')) - CUT_NOTE_ROOM
        pieces = _cut(text, room)
        if len(pieces) == 1:
            return text
        return pieces[0] + CUT_NOTE.format(size=json_size(text), limit=limit)

    async def emit(self, stream: Stream, chunk: Chunk) -> Chunk:
        """Number the chunk, log it, and extend the lease (with a checkpoint) when it runs out.
        A chunk over `max_chunk_bytes` is refused (ChunkTooLargeError) before it is logged."""
        stream.seq += 1
        chunk = chunk.model_copy(update={"stream_id": stream.id, "seq": stream.seq})
        encoded = chunk.model_dump_json()
        self._limits.check_chunk(len(encoded.encode()))
        self._sql("INSERT INTO _chat_chunks VALUES (?, ?, ?)", stream.id, stream.seq, encoded)
        if stream.seq > stream.lease:
            stream.lease = stream.seq + LEASE
            await self.checkpoint(stream)
        return chunk

    async def checkpoint(self, stream: Stream) -> None:
        """Persist the stream row and everything this turn wrote so far."""
        self.save(stream)
        await self._commit()

    def chunks(self, stream_id: str, after_seq: int) -> list[Chunk]:
        rows = self._sql(
            "SELECT chunk FROM _chat_chunks WHERE stream_id = ? AND seq > ? ORDER BY seq",
            stream_id,
            after_seq,
        )
        return [CHUNK.validate_json(row["chunk"]) for row in rows]

    def forget_old(self, keep: int) -> None:
        """Drop the chunk logs of finished streams beyond the newest `keep` streams."""
        old = (
            "SELECT id FROM _chat_streams WHERE status != 'streaming' AND status != 'awaiting_approval' "
            "AND id NOT IN (SELECT id FROM _chat_streams ORDER BY rowid DESC LIMIT ?)"
        )
        self._sql(f"DELETE FROM _chat_chunks WHERE stream_id IN ({old})", keep)
        self._sql(f"DELETE FROM _chat_streams WHERE id IN ({old})", keep)


def _cut(text: str, room: int) -> list[str]:
    """`text` in consecutive pieces of at most `room` bytes each as JSON strings (halved until
    they fit: only measuring knows what JSON escapes; a piece of one character is left whole)."""
    if len(text) <= 1 or json_size(text) <= room:
        return [text]
    middle = len(text) // 2
    return _cut(text[:middle], room) + _cut(text[middle:], room)


def _stream(row: dict[str, Any]) -> Stream:
    return Stream(
        id=row["id"],
        status=row["status"],
        seq=row["seq"],
        lease=row["lease"],
        steps=row["steps"],
        recoveries=row["recoveries"],
        awaiting=row["awaiting"],
        decisions=json.loads(row["decisions"]),
    )
