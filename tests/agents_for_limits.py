"""Agents with small size limits (`max_state_bytes`, `max_database_bytes`, `max_chunk_bytes`), so
the limit tests stay small. A module of its own so Ray workers import it by name."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pydantic

from agents import Agent, callable
from agents.chat import ChatAgent, ChatContext, ToolCall
from agents.errors import DatabaseFullError
from agents.scheduling import RetryPolicy

KIB = 1024


class Notes(pydantic.BaseModel):
    notes: list[str] = []


class Bounded(Agent):
    """State (a pydantic model), SQL and streams, each with a limit of a few KiB."""

    State = Notes
    max_state_bytes = 4 * KIB
    max_database_bytes = 64 * KIB
    max_chunk_bytes = 4 * KIB
    schedule_retry = RetryPolicy(max_attempts=1)

    async def on_start(self) -> None:
        self.sql("CREATE TABLE IF NOT EXISTS blobs(data BLOB NOT NULL)")

    @callable
    def note(self, text: str) -> int:
        """Append a note with `set_state`."""
        self.set_state(Notes(notes=[*self.state.notes, text]))
        return len(self.state.notes)

    @callable
    async def note_in_place(self, text: str) -> None:
        """Append a note by mutating the state (no `set_state`), with SQL and a schedule in the turn."""
        self.state.notes.append(text)
        self.sql("INSERT INTO blobs VALUES (zeroblob(10))")
        await self.schedule(3600, self.note, "later")

    @callable
    async def note_later(self, text: str) -> str:
        """Queue the note for after this turn; returns the queue item's ID."""
        return await self.queue(self.note, text)

    @callable(readonly=True)
    async def queued(self) -> list[str]:
        """The status of each queue item."""
        return [item.status for item in await self.list_queue()]

    @callable(readonly=True)
    async def schedules(self) -> int:
        return len(await self.list_schedules())

    @callable
    def store(self, size: int) -> int:
        """Insert a blob of `size` bytes; returns the number of blobs."""
        self.sql("INSERT INTO blobs VALUES (zeroblob(?))", size)
        return self.blobs()

    @callable
    def store_despite_refusal(self, size: int) -> int:
        """Insert a blob too large for the database, catch the refusal, then go on writing."""
        self.set_state(Notes(notes=[*self.state.notes, "before the refusal"]))
        try:
            self.sql("INSERT INTO blobs VALUES (zeroblob(?))", size)
        except DatabaseFullError:
            pass
        return self.store(10)

    @callable
    def run(self, statement: str) -> list[dict[str, Any]]:
        return self.sql(statement)

    @callable
    def clear(self) -> None:
        self.sql("DELETE FROM blobs")

    @callable(readonly=True)
    def blobs(self) -> int:
        return self.sql("SELECT count(*) AS n FROM blobs")[0]["n"]

    @callable(readonly=True)
    def notes(self) -> list[str]:
        return list(self.state.notes)

    @callable
    async def pieces(self, sizes: list[int]) -> AsyncIterator[str]:
        """Yield one string of each size, noting each in state and SQL as it goes, and its end."""
        try:
            for size in sizes:
                self.set_state(Notes(notes=[*self.state.notes, f"yielding {size}"]))
                self.sql("INSERT INTO blobs VALUES (zeroblob(1))")
                yield "x" * size
        finally:  # inside the turn, however the stream ends
            self.set_state(Notes(notes=[*self.state.notes, "closed"]))


class Verbose(ChatAgent):
    """A chat whose model answers in one text delta five times its chunk limit, much of it
    characters that JSON escapes."""

    max_chunk_bytes = 2 * KIB
    ANSWER = 'she said "hi"\n' * (10 * KIB // 14)

    async def on_chat_message(
        self, messages: list[dict[str, Any]], ctx: ChatContext
    ) -> AsyncIterator[str | ToolCall]:
        yield self.ANSWER


def dump(size: int) -> str:
    """A tool whose result is `size` characters, many of them escaped in JSON."""
    return '"quoted"\n' * (size // 10)


class Hoarder(ChatAgent):
    """A chat whose model calls a tool returning ten times the chunk limit, then answers."""

    max_chunk_bytes = 2 * KIB
    tools = (dump,)

    async def on_chat_message(
        self, messages: list[dict[str, Any]], ctx: ChatContext
    ) -> AsyncIterator[str | ToolCall]:
        if messages[-1]["role"] == "tool":
            yield f"read {len(messages[-1]['content'])} characters"
        else:
            yield ToolCall(id="call-1", name="dump", arguments='{"size": 20480}')
