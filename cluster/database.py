"""One agent's embedded SQLite database, run in turns (one transaction per turn)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agents.agent import SqlParams


class AgentDatabase:
    """An in-memory SQLite database private to one activation, restored from and saved to
    checkpoints as the bytes of a database file (`sqlite3` serialize/deserialize).

    Durability comes from the checkpoint, not from SQLite: nothing touches the disk, and the
    rollback journal is in memory (so a failed turn can roll back).
    """

    def __init__(self, image: bytes) -> None:
        self._conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        if image:
            self._conn.deserialize(image)
        self._conn.row_factory = sqlite3.Row
        #: A turn is open; its transaction begins at its first statement (most turns run none).
        self._in_turn = False
        #: (total changes, schema version) when the turn's transaction began; None: not begun.
        self._mark: tuple[int, int] | None = None
        #: The open turn ran VACUUM (the image changed, though no row did).
        self._vacuumed = False

    def execute(self, query: str, params: SqlParams = ()) -> list[dict[str, Any]]:
        """Run one statement; return its rows as dicts. VACUUM cannot run inside a transaction,
        so it is taken only as a turn's first statement, and runs on its own: it changes pages,
        never content, so rolling the rest of the turn back stays exact."""
        if query.lstrip()[:6].upper() == "VACUUM":
            return self._vacuum(query, params)
        self._begin_if_needed()
        cursor = self._conn.execute(query, params)
        return [dict(row) for row in cursor.fetchall()]

    def _vacuum(self, query: str, params: SqlParams) -> list[dict[str, Any]]:
        if self._mark is not None:
            raise sqlite3.OperationalError(
                "VACUUM must be a turn's first statement: it cannot run inside the turn's transaction "
                "(call it from a method of its own)"
            )
        self._conn.execute(query, params)
        self._vacuumed = self._in_turn
        return []

    def executemany(self, query: str, rows: Iterable[SqlParams]) -> int:
        """Run one INSERT, UPDATE or DELETE once per row of values; return the number of rows it
        changed in all (`sqlite3.Cursor.rowcount`)."""
        self._begin_if_needed()
        return self._conn.executemany(query, rows).rowcount

    def _version(self) -> tuple[int, int]:
        schema = self._conn.execute("PRAGMA schema_version").fetchone()[0]
        return self._conn.total_changes, schema

    def _begin_if_needed(self) -> None:
        if self._in_turn and self._mark is None:
            self._conn.execute("BEGIN")
            self._mark = self._version()

    def begin(self) -> None:
        """Open a turn: what it runs is one transaction, begun at its first statement."""
        self._in_turn, self._mark, self._vacuumed = True, None, False

    def changed(self) -> bool:
        """Whether the open turn changed rows or schema."""
        return self._vacuumed or (self._mark is not None and self._version() != self._mark)

    def commit(self) -> None:
        self._end_turn("COMMIT")

    def rollback(self) -> None:
        self._end_turn("ROLLBACK")

    def _end_turn(self, statement: str) -> None:
        self._in_turn, self._mark, self._vacuumed = False, None, False
        if self._conn.in_transaction:
            self._conn.execute(statement)

    def image(self) -> bytes:
        """The committed database as the bytes of a database file (empty if it has no pages)."""
        if self._conn.execute("PRAGMA page_count").fetchone()[0] == 0:
            return b""
        return self._conn.serialize()

    def close(self) -> None:
        self._conn.close()
