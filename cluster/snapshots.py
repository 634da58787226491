"""An agent's latest checkpoint as a host reads it: the manifest, and its database rebuilt in a
local file for the activation that will take it."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from agents.errors import CorruptCheckpointError
from cluster.checkpoint import Manifest, chunk_hash
from cluster.database import new_database_path
from cluster.images import StoredDatabase, rebuild
from cluster.stores import CheckpointStore


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
        return Snapshot(None, StoredDatabase(), path)
    return Snapshot(*read_checkpoint(store, key, Manifest.unpack(raw), path), path)


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
        damaged = sorted(h for h, data in found.items() if chunk_hash(data) != h)
        if damaged:
            raise CorruptCheckpointError(
                f"{key}: {len(damaged)} checkpoint chunk(s) do not match their hash (e.g. {damaged[0]}): "
                "the store's copy is damaged; an earlier restore point may be intact (`restore`)"
            )
        return found

    return load
