"""An agent's latest checkpoint as a host reads it: the manifest, and its database rebuilt in a
local file for the activation that will take it. Whatever is damaged (a manifest whose checksum
fails, a chunk that does not match its hash) is `CorruptCheckpointError` naming the agent and how
to recover, never an agent started on different data."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from agents.errors import CorruptCheckpointError
from cluster.checkpoint import DamagedManifest, Manifest, chunk_hash
from cluster.database import new_database_path
from cluster.images import StoredDatabase, rebuild
from cluster.stores import CheckpointStore

log = logging.getLogger("ray_agents.activation")


@dataclass
class Snapshot:
    """An agent's latest checkpoint as read from the store (`manifest` None: it has none yet),
    its database rebuilt in the file at `path` (absent if the database is empty)."""

    manifest: Manifest | None
    stored: StoredDatabase
    path: Path
    #: An activation owns the file now (it deletes it when it closes).
    taken: bool = False

    def discard(self) -> None:
        """Delete the rebuilt database file (the snapshot will not be used)."""
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


def read_snapshot(store: CheckpointStore, key: str) -> Snapshot:
    """Read an agent's latest checkpoint and rebuild its database file (blocking: run it in a
    thread)."""
    path = new_database_path()
    raw = store.load_manifest(key)
    if raw is None:
        if store.has_traces(key) and not store.destroyed(key):
            problem = "the manifest of its latest checkpoint is missing (its chunks or history are stored)"
            raise damaged(store, key, problem)
        return Snapshot(None, StoredDatabase(), path)  # a new agent
    return Snapshot(*read_checkpoint(store, key, decode(store, key, raw), path), path)


def decode(store: CheckpointStore, key: str, data: bytes, which: str = "latest checkpoint") -> Manifest:
    """The manifest in `data` (of the agent's `which`), or `CorruptCheckpointError` saying how
    to recover."""
    try:
        return Manifest.unpack(data)
    except DamagedManifest as exc:
        raise damaged(store, key, f"the manifest of its {which} is damaged: {exc}") from None


def restore_points(store: CheckpointStore, key: str) -> list[tuple[int, Manifest]]:
    """The agent's restore points whose manifest is intact, oldest first (damaged ones logged)."""
    intact = []
    for seq in store.history(key):
        data = store.load_history(key, seq)
        if data is None:
            continue
        try:
            intact.append((seq, Manifest.unpack(data)))
        except DamagedManifest as exc:
            log.error("%s: the manifest of restore point %d is damaged: %s", key, seq, exc)
    return intact


def damaged(store: CheckpointStore, key: str, problem: str) -> CorruptCheckpointError:
    """The error for a damaged checkpoint of agent `key`, naming its newest intact restore point."""
    try:
        points = restore_points(store, key)
    except Exception as exc:  # the error must still be raised, whatever else is broken
        log.warning("%s: listing restore points failed: %r", key, exc)
        points = []
    if not points:
        hint = "it has no intact restore point to go back to (checkpoint_retention keeps them)"
    else:
        seq, manifest = points[-1]
        when = datetime.fromtimestamp(manifest.time).astimezone().isoformat(timespec="seconds")
        hint = (
            f"its newest restore point with an intact manifest is {seq} ({when}): take it back with "
            f"`handle_of(agent).restore({seq})` (`list_checkpoints()` lists them; if that one's chunks "
            "are damaged too, its wake is refused the same way: try an older one)"
        )
    return CorruptCheckpointError(f"{key}: {problem}; the agent is not started on different data; {hint}")


def read_checkpoint(
    store: CheckpointStore, key: str, manifest: Manifest, path: Path
) -> tuple[Manifest, StoredDatabase]:
    """Fill in a manifest's chunk list and rebuild its database at `path`."""
    load = chunk_loader(store, key)
    if manifest.db_segments:
        manifest.with_chunks(load(manifest.db_segments))
    try:
        return manifest, rebuild(manifest, load, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        raise


def chunk_loader(store: CheckpointStore, key: str) -> Callable[[Iterable[str]], dict[str, bytes]]:
    """`store.load_chunks` for one agent, each chunk checked against its name (its hash): a
    damaged copy is `CorruptCheckpointError`, never an agent started on different data."""

    def load(hashes: Iterable[str]) -> dict[str, bytes]:
        found = store.load_chunks(key, hashes)
        bad = sorted(h for h, data in found.items() if chunk_hash(data) != h)
        if bad:
            problem = f"{len(bad)} checkpoint chunk(s) do not match their hash (e.g. {bad[0]})"
            raise damaged(store, key, problem)
        return found

    return load
