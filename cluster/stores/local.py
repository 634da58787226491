"""Checkpoints in a local directory: atomic rename, fsync, and a file lock for fencing.

A disk that refuses an operation (full, read-only, an I/O error) or a damaged file of the store's
own (a garbled epoch) is `StoreFailedError` naming the agent: the path is logged here, on the
server, never sent to callers. Reads need no writes (no lock), so they go on working on a full or
read-only disk. A write that fails removes its temporary files; those of a writer that crashed
are removed by the next activation of the same agent (`bump_epochs`, under the agent's lock, so
no write of it is in progress).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import functools
import hashlib
import logging
import os
import sqlite3
import threading
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

from agents.errors import StaleEpochError, StoreFailedError
from cluster.stores.base import CheckpointStore

log = logging.getLogger("ray_agents.stores")
F = TypeVar("F", bound=Callable[..., Any])


def _on_disk(doing: str) -> Callable[[F], F]:
    """Make an OSError (or SQLite error) of a store method `StoreFailedError`: the message names
    the agent (the method's first argument) and the error, and the path goes to the log only."""

    def wrap(method: F) -> F:
        @functools.wraps(method)
        def run(self: LocalDirectoryStore, *args: Any, **kwargs: Any) -> Any:
            try:
                return method(self, *args, **kwargs)
            except (OSError, sqlite3.Error) as exc:
                subject = args[0] if args and isinstance(args[0], str) else "file store"
                log.error("%s: cannot %s in %s: %r", subject, doing, self.root, exc)
                reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
                name = errno.errorcode.get(exc.errno or 0, "") if isinstance(exc, OSError) else ""
                detail = f"{reason} ({name})" if name else reason
                raise StoreFailedError(f"{subject}: the file store cannot {doing}: {detail}") from None

        return run  # type: ignore[return-value]

    return wrap


def _remove(paths: Iterable[Path]) -> None:
    """Delete files that may be gone already (temporary files of a failed or crashed write)."""
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_durably(path: Path, data: bytes, also: Path | None = None) -> None:
    """Write to a temporary name, fsync, then rename over `path` (atomic on POSIX); `also`: a
    second name (a hard link) for the same file, replacing any file of that name (left by a
    save that crashed before it was acknowledged)."""
    tmp = _temporary(path)
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        _remove([tmp])
        raise
    if also is not None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(also)
        os.link(path, also)


def _temporary(path: Path) -> Path:
    """The name `path` is written under until its data is on disk (`_is_temporary`)."""
    return path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")


def _is_temporary(name: str) -> bool:
    return name.startswith(".") and name.endswith(".tmp")


#: From this many chunks on, a save flushes its files with one `syncfs` instead of one fsync each
#: (a fold, a fork's copy: thousands of 32 KiB files).
BULK_CHUNKS = 32


def _write_chunks(directory: Path, chunks: Mapping[str, bytes]) -> None:
    """Write chunk files durably (each under a temporary name until its data is on disk, so a
    chunk a checkpoint already references is never torn by a rewrite), then their directory."""
    if not chunks:
        return
    if len(chunks) < BULK_CHUNKS or _syncfs is None:
        for digest, data in chunks.items():
            _write_durably(directory / digest, data)
    else:
        written = []
        try:
            for digest, data in chunks.items():
                written.append((_temporary(directory / digest), directory / digest))
                written[-1][0].write_bytes(data)
            fd = os.open(directory, os.O_RDONLY)
            try:
                if _syncfs(fd) != 0:
                    raise OSError(ctypes.get_errno(), f"syncfs {directory}")
            finally:
                os.close(fd)
            for tmp, path in written:
                os.replace(tmp, path)
        except BaseException:
            _remove(tmp for tmp, _ in written)
            raise
    _fsync_dir(directory)


def _find_syncfs() -> Callable[[int], int] | None:
    """Linux `syncfs(2)`: flush one filesystem's dirty data (None where libc lacks it)."""
    try:
        return ctypes.CDLL(None, use_errno=True).syncfs
    except (OSError, AttributeError):
        return None


_syncfs = _find_syncfs()

#: Name prefix of history entries in an agent's directory.
HISTORY = "history."


def _entry(seq: int) -> str:
    return HISTORY + str(seq).zfill(20)


#: Digits of an epoch file: overwritten in place, always the same size (within one disk sector).
EPOCH_WIDTH = 20


def _overwrite_epoch(directory: Path, epoch: int) -> None:
    """Write the epoch file in place and flush it (and its directory entry if it is new)."""
    path = directory / "epoch"
    created = not path.exists()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        os.pwrite(fd, str(epoch).zfill(EPOCH_WIDTH).encode(), 0)
        os.fdatasync(fd)
    finally:
        os.close(fd)
    if created:
        _fsync_dir(directory)


class LocalDirectoryStore(CheckpointStore):
    """One directory per agent: `key`, `epoch`, `manifest`, `chunks/<hash>`, `history.<seq>`
    (hard links to the manifests kept as restore points, beside `manifest` so that one fsync of
    the directory makes both durable), and `destroyed` after a delete.

    Works for every process of one machine (and for a `ray.cluster_utils.Cluster` on one
    machine). A multi-machine cluster needs a shared filesystem or the Redis store.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        (self.root / "_classes").mkdir(parents=True, exist_ok=True)
        self._alarms: sqlite3.Connection | None = None
        #: One connection to the alarm index per store, used from many threads (a pooled host's
        #: agents checkpoint concurrently): one statement or transaction at a time.
        self._alarms_lock = threading.Lock()

    def _alarm_index(self) -> sqlite3.Connection:
        """Next due time per agent, in a SQLite file every process of the machine shares."""
        if self._alarms is None:
            conn = sqlite3.connect(self.root / "_alarms.sqlite", timeout=30, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("CREATE TABLE IF NOT EXISTS alarms(key TEXT PRIMARY KEY, due REAL NOT NULL)")
            conn.execute("CREATE INDEX IF NOT EXISTS alarms_due ON alarms(due)")
            self._alarms = conn
        return self._alarms

    def _dir(self, key: str) -> Path:
        return self.root / hashlib.sha256(key.encode()).hexdigest()[:32]

    def _make_dir(self, key: str) -> bool:
        """Create the agent's directory if missing (not yet durable: fsync the root after)."""
        directory = self._dir(key)
        if directory.exists():  # its `key` file is written by the first save (keys() needs it)
            return False
        (directory / "chunks").mkdir(parents=True, exist_ok=True)
        return True

    @contextlib.contextmanager
    def _locked(self, key: str) -> Iterator[Path]:
        directory = self._dir(key)
        if self._make_dir(key):
            _fsync_dir(self.root)
        with open(directory / "lock", "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield directory
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    @staticmethod
    def _read_epoch(directory: Path) -> int:
        """The epoch file's number. A garbled one is refused, never guessed: a repair could
        only guess too low, and an epoch must never go backwards (fencing)."""
        try:
            data = (directory / "epoch").read_bytes()
        except FileNotFoundError:
            return 0
        if data.strip(b"0123456789") or len(data) > EPOCH_WIDTH:
            raise OSError(errno.EBADMSG, f"garbled epoch file: {data[: EPOCH_WIDTH + 4]!r}")
        return int(data or b"0")

    def _check_fence(self, directory: Path, key: str, epoch: int) -> None:
        current = self._read_epoch(directory)
        if epoch < current:
            raise StaleEpochError(f"{key}: epoch {epoch} was superseded by {current}")

    @_on_disk("create agent directories")
    def _make_dirs(self, keys: list[str]) -> None:
        if sum([self._make_dir(key) for key in keys]):
            _fsync_dir(self.root)

    def bump_epochs(self, keys: list[str]) -> list[int | Exception]:
        """New agents' directories are made durable by one fsync of the root for the batch; an
        existing epoch file is overwritten in place (fixed width, one sector) and fdatasynced:
        one flush per agent, where write-and-rename costs two."""
        try:
            self._make_dirs(keys)
        except StoreFailedError as exc:
            return [exc] * len(keys)
        bumped: list[int | Exception] = []
        for key in keys:
            try:
                bumped.append(self._bump(key))
            except Exception as exc:
                bumped.append(exc)
        return bumped

    @_on_disk("hand out a new epoch")
    def _bump(self, key: str) -> int:
        """Bump one agent's epoch; its older activations are fenced from now on, so temporary
        files left in its directory by one that crashed mid-write are removed here."""
        with self._locked(key) as directory:
            epoch = self._read_epoch(directory) + 1
            _overwrite_epoch(directory, epoch)
            for folder in (directory, directory / "chunks"):
                _remove(folder / name for name in os.listdir(folder) if _is_temporary(name))
            return epoch

    @_on_disk("read the epoch")
    def current_epoch(self, key: str) -> int:
        return self._read_epoch(self._dir(key))

    @_on_disk("read the manifest")
    def load_manifest(self, key: str) -> bytes | None:
        try:
            return (self._dir(key) / "manifest").read_bytes()
        except FileNotFoundError:
            return None

    @_on_disk("read checkpoint chunks")
    def load_chunks(self, key: str, hashes: Iterable[str]) -> dict[str, bytes]:
        chunks, wanted, found = self._dir(key) / "chunks", sorted(set(hashes)), {}
        for digest in wanted:
            with contextlib.suppress(FileNotFoundError):
                found[digest] = (chunks / digest).read_bytes()
        return self.all_found(key, wanted, found)

    @_on_disk("write a checkpoint")
    def save(
        self,
        key: str,
        epoch: int,
        manifest: bytes,
        new_chunks: Mapping[str, bytes],
        keep_as: int | None = None,
    ) -> None:
        with self._locked(key) as directory:
            self._check_fence(directory, key, epoch)
            if not (directory / "key").exists():
                _write_durably(directory / "key", key.encode())  # made durable by the fsync below
            _write_chunks(directory / "chunks", new_chunks)
            if keep_as is None:
                _write_durably(directory / "manifest", manifest)
            else:  # one file, two names: the history entry costs a link, not a second write
                _write_durably(directory / "manifest", manifest, also=directory / _entry(keep_as))
            with contextlib.suppress(FileNotFoundError):
                (directory / "destroyed").unlink()
            _fsync_dir(directory)

    @_on_disk("write checkpoint chunks")
    def put_chunks(self, key: str, chunks: Mapping[str, bytes]) -> None:
        with self._locked(key) as directory:
            _write_chunks(directory / "chunks", chunks)

    @_on_disk("list restore points")
    def history(self, key: str) -> list[int]:
        try:
            names = os.listdir(self._dir(key))
        except FileNotFoundError:
            return []
        return sorted(int(name.removeprefix(HISTORY)) for name in names if name.startswith(HISTORY))

    @_on_disk("read a restore point")
    def load_history(self, key: str, seq: int) -> bytes | None:
        try:
            return (self._dir(key) / _entry(seq)).read_bytes()
        except FileNotFoundError:
            return None

    @_on_disk("list checkpoint chunks")
    def chunk_names(self, key: str) -> set[str]:
        try:
            return {name for name in os.listdir(self._dir(key) / "chunks") if not name.startswith(".")}
        except FileNotFoundError:
            return set()

    @_on_disk("look for a checkpoint")
    def has_traces(self, key: str) -> bool:
        return (self._dir(key) / "key").exists() or super().has_traces(key)

    @_on_disk("collect checkpoint chunks")
    def collect(self, key: str, epoch: int, forget: Collection[int], drop: Collection[str]) -> None:
        with self._locked(key) as directory:
            self._check_fence(directory, key, epoch)
            for seq in forget:
                with contextlib.suppress(FileNotFoundError):
                    (directory / _entry(seq)).unlink()
            if forget:  # a forgotten entry must never come back after a crash without its chunks
                _fsync_dir(directory)
            for digest in drop:
                with contextlib.suppress(FileNotFoundError):
                    (directory / "chunks" / digest).unlink()

    @_on_disk("delete a checkpoint")
    def delete(self, key: str, epoch: int) -> None:
        with self._locked(key) as directory:
            self._check_fence(directory, key, epoch)
            _write_durably(directory / "destroyed", b"")
            with contextlib.suppress(FileNotFoundError):
                (directory / "manifest").unlink()
            for seq in self.history(key):
                (directory / _entry(seq)).unlink()
            for chunk in (directory / "chunks").iterdir():
                chunk.unlink()
            with contextlib.suppress(FileNotFoundError):
                (directory / "key").unlink()  # written again by the next save
            _fsync_dir(directory)

    @_on_disk("read whether the agent was destroyed")
    def destroyed(self, key: str) -> bool:
        return (self._dir(key) / "destroyed").exists()

    @_on_disk("record an alarm")
    def set_alarm(self, key: str, due: float | None) -> None:
        with self._alarms_lock, self._alarm_index() as index:
            if due is None:
                index.execute("DELETE FROM alarms WHERE key = ?", (key,))
            else:
                index.execute("INSERT OR REPLACE INTO alarms(key, due) VALUES (?, ?)", (key, due))

    @_on_disk("read due alarms")
    def due_alarms(self, now: float, limit: int = 100) -> list[tuple[str, float]]:
        with self._alarms_lock:
            rows = self._alarm_index().execute(
                "SELECT key, due FROM alarms WHERE due <= ? ORDER BY due LIMIT ?", (now, limit)
            )
            return [(key, due) for key, due in rows]

    @_on_disk("save an agent class")
    def save_class(self, name: str, blob: bytes) -> None:
        _write_durably(self.root / "_classes" / f"{name}.pkl", blob)

    @_on_disk("load an agent class")
    def load_class(self, name: str) -> bytes | None:
        try:
            return (self.root / "_classes" / f"{name}.pkl").read_bytes()
        except FileNotFoundError:
            return None

    def close(self) -> None:
        with self._alarms_lock:
            if self._alarms is not None:
                self._alarms.close()
                self._alarms = None

    @_on_disk("list agents")
    def keys(self) -> list[str]:
        found = []
        for directory in self.root.iterdir():
            if directory.is_dir() and (directory / "manifest").exists():
                found.append((directory / "key").read_text())
        return sorted(found)
