"""One agent's embedded SQLite database, run in turns (one transaction per turn)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any


class AgentDatabase:
    """A SQLite file private to one activation, restored from and saved to checkpoints as bytes.

    Durability comes from the checkpoint, not from SQLite: the file lives in a scratch directory,
    with an in-memory rollback journal (so a failed turn can roll back) and no fsync.
    """

    def __init__(self, path: Path, image: bytes) -> None:
        self.path = path
        path.write_bytes(image)
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA journal_mode=MEMORY")
        self._conn.execute("PRAGMA synchronous=OFF")
        self._mark: tuple[int, int] | None = None

    def execute(self, query: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        """Run one statement; return its rows as dicts."""
        cursor = self._conn.execute(query, params)
        return [dict(row) for row in cursor.fetchall()]

    def _version(self) -> tuple[int, int]:
        schema = self._conn.execute("PRAGMA schema_version").fetchone()[0]
        return self._conn.total_changes, schema

    def begin(self) -> None:
        self._conn.execute("BEGIN")
        self._mark = self._version()

    def changed(self) -> bool:
        """Whether the open turn changed rows or schema."""
        return self._version() != self._mark

    def commit(self) -> None:
        if self._conn.in_transaction:
            self._conn.execute("COMMIT")

    def rollback(self) -> None:
        if self._conn.in_transaction:
            self._conn.execute("ROLLBACK")

    def image(self) -> bytes:
        """The committed database file's bytes."""
        return self.path.read_bytes()

    def close(self) -> None:
        self._conn.close()
