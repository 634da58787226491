"""One agent's embedded SQLite database, run in turns (one transaction per turn), which reports
the pages each checkpoint must store.

The database is a local file in WAL mode with automatic checkpoints off: a committed turn's pages
are appended to the WAL, where `take_changes` reads them (the pages changed, not the database), then
folds them into the main file. So between captures the main file is exactly what the last capture
described, and the cost of a capture grows with the pages a turn changed, never with the database.
Durability comes from the checkpoint store, not from this file: nothing here is fsynced, and the
file is deleted when the activation closes.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import sqlite3
import struct
import tempfile
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agents.errors import DatabaseFullError, InvalidArgumentsError, ReadOnlyError
from agents.limits import SizeLimits
from cluster.checkpoint import PageDelta

if TYPE_CHECKING:
    from agents.agent import SqlParams

_WAL_HEADER = struct.Struct(">IIIIII")  # magic, version, page size, checkpoint seq, salt-1, salt-2
_WAL_HEADER_SIZE = 32
_FRAME_HEADER = struct.Struct(">IIII")  # page number, size after commit (0: not a commit), salts
_FRAME_HEADER_SIZE = 24


def databases_root() -> Path:
    """Where activations keep their database files: `RAY_AGENTS_DB_DIR`, else the temp dir."""
    return Path(os.environ.get("RAY_AGENTS_DB_DIR") or Path(tempfile.gettempdir()) / "ray-agents-db")


#: This process's directory of database files, and the lock it holds on it while it lives.
_own: tuple[Path, int] | None = None
_own_lock = threading.Lock()


def new_database_path() -> Path:
    """A fresh file name in this process's directory. The process holds a lock on that directory
    for its lifetime; directories whose lock nobody holds (their process died) are removed."""
    global _own
    with _own_lock:
        if _own is None or not _own[0].exists():
            if _own is not None:
                os.close(_own[1])
            _own = _claim_directory(databases_root())
            _remove_abandoned(_own[0].parent)
        return _own[0] / f"{uuid.uuid4().hex}.sqlite"


def _claim_directory(root: Path) -> tuple[Path, int]:
    """A new directory, locked before it appears under its final name (so a scan of another
    process never finds it unlocked)."""
    name = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
    staging = root / f".{name}"
    staging.mkdir(parents=True)
    fd = os.open(staging / ".lock", os.O_WRONLY | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    os.rename(staging, root / name)
    return root / name, fd


def _remove_abandoned(root: Path) -> None:
    """Remove the directories of processes that died without cleaning up (a SIGKILL)."""
    for entry in root.iterdir():
        if entry.name.startswith(".") or (_own is not None and entry == _own[0]):
            continue  # being claimed, or ours
        try:
            fd = os.open(entry / ".lock", os.O_WRONLY)
        except OSError:
            continue  # not ours
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            continue  # its process is alive (whatever PID namespace it is in)
        finally:
            os.close(fd)
        shutil.rmtree(entry, ignore_errors=True)


#: Pragmas an agent may not set: they would change how pages reach the WAL (and so what a
#: checkpoint stores), or lift the size limit (`max_page_count`, in pages of `page_size`).
#: `wal_checkpoint`, which folds the WAL behind the capture's back, may not run at all, except as
#: the capture's own statement.
_RESERVED_PRAGMAS = frozenset(
    {"journal_mode", "wal_autocheckpoint", "locking_mode", "max_page_count", "page_size"}
)


#: How long an inspector's read may run before it is interrupted (it holds the agent's turns).
READ_TIMEOUT = 2.0
#: What a read-only statement may do (`AgentDatabase.read`): read tables and call functions.
_READ_ACTIONS = frozenset(
    {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION, sqlite3.SQLITE_RECURSIVE}
)


def _read_only(
    action: int, arg1: str | None, arg2: str | None, database: str | None, source: str | None
) -> int:
    """The authorizer of `AgentDatabase.read`: reads, and the pragmas that only report. The
    columns of secret tables (`SECRET_PREFIX`: the MCP client's headers and OAuth tokens) read
    as NULL."""
    if action == sqlite3.SQLITE_READ and (arg1 or "").startswith(SECRET_PREFIX):
        return sqlite3.SQLITE_IGNORE
    if action in _READ_ACTIONS:
        return sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_PRAGMA and (arg1 or "").lower() in _REPORTING_PRAGMAS:
        return sqlite3.SQLITE_OK
    return sqlite3.SQLITE_DENY


#: Tables whose values `read` never returns (the MCP client's: header secrets, OAuth tokens).
SECRET_PREFIX = "_mcp_"
#: Pragmas a read may ask (their argument names a table or index): what tables, columns and indexes there are.
_REPORTING_PRAGMAS = frozenset({"table_info", "table_xinfo", "index_list", "index_info", "foreign_key_list"})


@dataclass(frozen=True)
class ReadResult:
    """What a read-only statement returned: its columns, its rows (up to the limit asked) and
    whether there were more."""

    columns: list[str]
    rows: list[list[Any]]
    truncated: bool


class AgentDatabase:
    """The SQLite database private to one activation, in the file at `path` (which may not exist
    yet: the database is then empty, and the file is made at the first statement), which SQLite
    keeps within `limits.max_database_bytes`."""

    def __init__(self, path: Path, limits: SizeLimits | None = None) -> None:
        self.path = path
        self._limits = limits or SizeLimits("agent")
        self._conn: sqlite3.Connection | None = None
        #: Size of the main file as of the last capture (what the store's checkpoint describes).
        self._captured_size = path.stat().st_size if path.exists() else 0
        #: A turn is open; its transaction begins at its first statement (most turns run none).
        self._in_turn = False
        #: (total changes, schema version) when the turn's transaction began; None: not begun.
        self._mark: tuple[int, int] | None = None
        #: The open turn ran VACUUM (the image changed, though no row did).
        self._vacuumed = False
        #: The capture's own WAL checkpoint, the one the authorizer lets through; its text is
        #: this connection's alone, so no agent statement reuses it from the statement cache.
        self._checkpoint_sql = f"PRAGMA wal_checkpoint(TRUNCATE) -- {uuid.uuid4().hex}"
        self._capturing = False
        #: The open turn hit SQLITE_FULL, which may have undone its transaction: what to raise
        #: for its every further statement, and instead of committing it.
        self._refused: DatabaseFullError | None = None

    @property
    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            # One connection, no other process: an exclusive lock needs no shared-memory index.
            conn.execute("PRAGMA locking_mode=EXCLUSIVE")
            (mode,) = conn.execute("PRAGMA journal_mode=WAL").fetchone()
            if mode != "wal":
                raise sqlite3.OperationalError(f"{self.path}: cannot use WAL mode (got {mode!r})")
            conn.execute("PRAGMA wal_autocheckpoint=0")  # pages stay in the WAL until captured
            conn.execute("PRAGMA synchronous=OFF")  # the checkpoint store is what is durable
            limit = self._limits.max_database_bytes
            if limit is not None:  # never below the file's size: a larger restored one may shrink
                (page_size,) = conn.execute("PRAGMA page_size").fetchone()
                conn.execute(f"PRAGMA max_page_count={max(1, limit // page_size)}")
            conn.row_factory = sqlite3.Row
            conn.set_authorizer(self._authorize)
            self._conn = conn
        return self._conn

    def _authorize(
        self, action: int, arg1: str | None, arg2: str | None, database: str | None, source: str | None
    ) -> int:
        """Refuse what would bypass the capture or the size limit: setting journal, WAL, locking
        and page pragmas, a WAL checkpoint, ATTACH of a database file (VACUUM attaches "", which
        is fine)."""
        if action == sqlite3.SQLITE_PRAGMA:
            name = (arg1 or "").lower()
            if name == "wal_checkpoint" and not self._capturing:
                return sqlite3.SQLITE_DENY
            if name in _RESERVED_PRAGMAS and arg2 is not None:
                return sqlite3.SQLITE_DENY
        if action == sqlite3.SQLITE_ATTACH and arg1 not in ("", ":memory:"):
            return sqlite3.SQLITE_DENY
        return sqlite3.SQLITE_OK

    @property
    def empty(self) -> bool:
        """No table was ever made (answered without opening the database)."""
        return self._conn is None and self._captured_size == 0

    def execute(self, query: str, params: SqlParams = ()) -> list[dict[str, Any]]:
        """Run one statement; return its rows as dicts. VACUUM cannot run inside a transaction,
        so it is taken only as a turn's first statement, and runs on its own: it changes pages,
        never content, so rolling the rest of the turn back stays exact."""
        if query.lstrip()[:6].upper() == "VACUUM":
            return self._vacuum(query, params)
        with self._statement(query):
            return [dict(row) for row in self._db.execute(query, params).fetchall()]

    def _vacuum(self, query: str, params: SqlParams) -> list[dict[str, Any]]:
        if self._mark is not None:
            raise sqlite3.OperationalError(
                "VACUUM must be a turn's first statement: it cannot run inside the turn's transaction "
                "(call it from a method of its own)"
            )
        self._db.execute(query, params)
        self._vacuumed = self._in_turn
        return []

    def read(self, query: str, limit: int, timeout_s: float = READ_TIMEOUT) -> ReadResult:
        """Run one statement that only reads (the inspector's query box), between turns: its
        columns and up to `limit` rows. A statement that would write, attach or set a pragma is
        refused (ReadOnlyError) before it runs; one still running after `timeout_s` seconds is
        interrupted. Blobs come back as `<N bytes>`."""
        db = self._db
        deadline = time.monotonic() + timeout_s
        db.set_authorizer(_read_only)
        db.set_progress_handler(lambda: int(time.monotonic() > deadline), 10_000)
        try:
            cursor = db.execute(query)
            rows = cursor.fetchmany(limit + 1)
        except sqlite3.DatabaseError as exc:
            if str(exc) == "not authorized":
                raise ReadOnlyError(
                    f"the inspector runs statements that only read: {query.strip()[:80]!r} is refused"
                ) from None
            if str(exc) == "interrupted":
                raise InvalidArgumentsError(f"the query ran past {timeout_s:g} s and was stopped") from None
            raise InvalidArgumentsError(f"the query failed: {exc}") from None
        finally:
            db.set_progress_handler(None, 0)
            db.set_authorizer(self._authorize)
        columns = [d[0] for d in cursor.description or ()]
        values = [
            [f"<{len(v)} bytes>" if isinstance(v, bytes) else v for v in tuple(row)] for row in rows[:limit]
        ]
        return ReadResult(columns, values, truncated=len(rows) > limit)

    def executemany(self, query: str, rows: Iterable[SqlParams]) -> int:
        """Run one INSERT, UPDATE or DELETE once per row of values; return the number of rows it
        changed in all (`sqlite3.Cursor.rowcount`)."""
        with self._statement(query):
            return self._db.executemany(query, rows).rowcount

    @contextlib.contextmanager
    def _statement(self, query: str) -> Iterator[None]:
        """Run one statement of the open turn (in its transaction), with refusals in our words."""
        if self._refused is not None:
            raise self._refused
        self._begin_if_needed()
        try:
            yield
        except sqlite3.DatabaseError as exc:
            if str(exc) == "not authorized":
                raise sqlite3.DatabaseError(
                    f"not allowed in an agent's database: {query.strip()[:80]!r} (journal, WAL, "
                    "locking and page pragmas and ATTACH would bypass its checkpoints or its size limit)"
                ) from None
            if exc.sqlite_errorcode != sqlite3.SQLITE_FULL:
                raise
            refused = self._limits.database_full()
            if self._in_turn:
                self._refused = refused
            raise refused from None

    def _version(self) -> tuple[int, int]:
        schema = self._db.execute("PRAGMA schema_version").fetchone()[0]
        return self._db.total_changes, schema

    def _begin_if_needed(self) -> None:
        if self._in_turn and self._mark is None:
            self._db.execute("BEGIN")
            self._mark = self._version()

    def begin(self) -> None:
        """Open a turn: what it runs is one transaction, begun at its first statement."""
        self._in_turn, self._mark, self._vacuumed, self._refused = True, None, False, None

    def changed(self) -> bool:
        """Whether the open turn changed rows or schema. Raises the refusal of a statement that
        found the database full: the turn cannot commit (SQLite may have undone part of it)."""
        if self._refused is not None:
            raise self._refused
        return self._vacuumed or (self._mark is not None and self._version() != self._mark)

    def commit(self) -> None:
        self._end_turn("COMMIT")

    def rollback(self) -> None:
        self._end_turn("ROLLBACK")

    def _end_turn(self, statement: str) -> None:
        self._in_turn, self._mark, self._vacuumed, self._refused = False, None, False, None
        if self._conn is not None and self._conn.in_transaction:
            self._conn.execute(statement)

    def take_changes(self) -> PageDelta:
        """The pages committed since the last capture (read from the WAL), then fold them into
        the main file. Call it between turns only."""
        floor = self._captured_size
        delta = _committed_pages(self.path.with_name(self.path.name + "-wal"), floor)
        self._capturing = True
        try:
            busy, _, _ = self._db.execute(self._checkpoint_sql).fetchone()
        finally:
            self._capturing = False
        if busy:  # cannot happen with one connection; never report pages the file does not hold
            raise sqlite3.OperationalError(f"{self.path}: WAL checkpoint was blocked")
        self._captured_size = delta.size
        return delta

    def image(self) -> bytes:
        """The whole database as of the last capture, as the bytes of a database file (the
        main file: captures fold the WAL into it)."""
        return self.path.read_bytes() if self._captured_size else b""

    def close(self) -> None:
        """Close the database and delete its files."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        for suffix in ("", "-wal", "-journal"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(f"{self.path}{suffix}")


def _committed_pages(wal: Path, floor: int) -> PageDelta:
    """The pages of the committed frames of a WAL (the latest frame of each page wins), as a
    delta over a main file of `floor` bytes. Frames past the last commit frame are left over from
    a rolled-back transaction and ignored; so is any page past the committed database size."""
    try:
        data = wal.read_bytes()
    except FileNotFoundError:
        data = b""
    if len(data) < _WAL_HEADER_SIZE:
        return PageDelta(size=floor, floor=floor, pages={})
    _, _, page_size, _, salt1, salt2 = _WAL_HEADER.unpack_from(data)
    pages: dict[int, bytes] = {}
    committed: dict[int, bytes] = {}
    size_pages = None
    frame = _FRAME_HEADER_SIZE + page_size
    for offset in range(_WAL_HEADER_SIZE, len(data) - frame + 1, frame):
        number, commit_size, s1, s2 = _FRAME_HEADER.unpack_from(data, offset)
        if (s1, s2) != (salt1, salt2):
            break
        start = offset + _FRAME_HEADER_SIZE
        pages[(number - 1) * page_size] = data[start : start + page_size]
        if commit_size:
            committed.update(pages)
            pages = {}
            size_pages = commit_size
    if size_pages is None:
        return PageDelta(size=floor, floor=floor, pages={})
    size = size_pages * page_size
    return PageDelta(
        size=size, floor=min(floor, size), pages={o: p for o, p in committed.items() if o < size}
    )
