"""What the store holds of one agent's database, how a checkpoint adds to it, and how a host
rebuilds the database file from it.

The store holds a base image in chunks (listed by segments) and a short log of page deltas over
it. A write turn adds one delta: the pages it changed, whatever the database's size. Once the
deltas grow past a bound, the next checkpoint folds them into the base instead, rewriting only the
chunks they touched (and the segments listing those). So both a write and a wake stay bounded by
what changed plus the base, never by the history of writes.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

from cluster.checkpoint import (
    SEGMENT_SIZE,
    Manifest,
    PageDelta,
    chunk_count,
    chunk_hash,
    chunk_span,
    chunks_under,
    segment,
)

#: Fold the deltas into the base once there are this many ...
MAX_DELTAS = 64
#: ... or they hold this many bytes (a wake reads them all; each write merges its pages into them).
DELTA_BYTES = 1 << 20
#: Chunks read from the store at a time while rebuilding a database file.
LOAD_BATCH = 256

LoadChunks = Callable[[Iterable[str]], dict[str, bytes]]


@dataclass(frozen=True)
class StoredDatabase:
    """The database as the store's latest checkpoint describes it."""

    #: Bytes of the base image, and its chunk hashes and segment hashes.
    size: int = 0
    hashes: list[str] = field(default_factory=list)
    segments: list[str] = field(default_factory=list)
    #: Hashes of the delta chunks over the base, oldest first, their packed bytes in all, and
    #: what they do together (None: no deltas).
    deltas: list[str] = field(default_factory=list)
    delta_bytes: int = 0
    since_base: PageDelta | None = None
    #: Segment chunks the store lacks (a version 1 checkpoint listed its chunks inline).
    unsaved: dict[str, bytes] = field(default_factory=dict)

    @property
    def db_size(self) -> int:
        """Bytes of the database (the base with its deltas applied)."""
        return self.since_base.size if self.since_base else self.size

    def add(self, change: PageDelta, load: LoadChunks) -> tuple[StoredDatabase, dict[str, bytes]]:
        """What the store holds once `change` is saved, and the chunks to write for it: one delta
        chunk, or the base chunks and segments a fold rewrote. `load` reads base chunks."""
        merged = self.since_base.then(change) if self.since_base else change
        packed = change.pack()
        delta_bytes = self.delta_bytes + len(packed)
        if len(self.deltas) < MAX_DELTAS and delta_bytes <= DELTA_BYTES:
            digest = chunk_hash(packed)
            after = replace(self, deltas=[*self.deltas, digest], delta_bytes=delta_bytes, since_base=merged)
            return after, {digest: packed}
        return self._fold(merged, load)

    def _fold(self, merged: PageDelta, load: LoadChunks) -> tuple[StoredDatabase, dict[str, bytes]]:
        """A new base: the old one with `merged` applied, rewriting only the chunks it touches."""
        size, count = merged.size, chunk_count(merged.size)
        touched: set[int] = set()
        for offset, page in merged.pages.items():
            touched.update(chunks_under(offset, offset + len(page)))
        if size > merged.floor:  # bytes past the floor are pages or zeros now, not the base's
            touched.update(chunks_under(merged.floor, size))
        if size != self.size and count:
            touched.add(count - 1)  # the last chunk's length changed
        touched = {i for i in touched if i < count}
        keep = min(merged.floor, self.size)  # base bytes that survive
        needed = {self.hashes[i] for i in touched if i < len(self.hashes) and chunk_span(i, size)[0] < keep}
        base = load(needed) if needed else {}
        buffers: dict[int, bytearray] = {}
        for i in sorted(touched):
            start, end = chunk_span(i, size)
            buffer = bytearray(end - start)
            if start < keep:
                old = base[self.hashes[i]]
                buffer[: min(end, keep) - start] = old[: min(end, keep) - start]
            buffers[i] = buffer
        for offset, page in merged.pages.items():  # in order: a later page overwrites an earlier
            for i in chunks_under(offset, offset + len(page)):
                if i in buffers:
                    start, end = chunk_span(i, size)
                    lo, hi = max(start, offset), min(end, offset + len(page))
                    buffers[i][lo - start : hi - start] = page[lo - offset : hi - offset]
        hashes = self.hashes[:count] + [""] * (count - len(self.hashes))
        new_chunks: dict[str, bytes] = {}
        for i, buffer in buffers.items():
            data = bytes(buffer)
            hashes[i] = digest = chunk_hash(data)
            new_chunks[digest] = data
        n_segments = -(-count // SEGMENT_SIZE)
        segments = self.segments[:n_segments] + [""] * (n_segments - len(self.segments))
        for s in {i // SEGMENT_SIZE for i in touched} | ({n_segments - 1} if n_segments else set()):
            ((digest, packed),) = segment(hashes[s * SEGMENT_SIZE : (s + 1) * SEGMENT_SIZE])
            segments[s] = digest
            new_chunks[digest] = packed
        return StoredDatabase(size=size, hashes=hashes, segments=segments, unsaved=self.unsaved), new_chunks

    @classmethod
    def of(cls, manifest: Manifest, deltas: list[PageDelta], delta_bytes: int) -> StoredDatabase:
        """What `manifest` (with its chunk list filled in) describes, given its deltas."""
        segments, unsaved = list(manifest.db_segments), {}
        if manifest.db_chunks and not segments:  # version 1: give it segments on the next write
            listed = segment(manifest.db_chunks)
            segments, unsaved = [h for h, _ in listed], dict(listed)
        return cls(
            size=manifest.db_size,
            hashes=list(manifest.db_chunks),
            segments=segments,
            deltas=list(manifest.db_deltas),
            delta_bytes=delta_bytes,
            since_base=PageDelta.merged(deltas),
            unsaved=unsaved,
        )


def rebuild(manifest: Manifest, load: LoadChunks, path: Path) -> StoredDatabase:
    """Write the database a checkpoint describes to `path` (not made if it is empty) and return
    what the store holds of it. `manifest` has its chunk list filled in (`with_chunks`)."""
    raw = load(manifest.db_deltas) if manifest.db_deltas else {}
    deltas = [PageDelta.unpack(raw[h]) for h in manifest.db_deltas]
    stored = StoredDatabase.of(manifest, deltas, sum(len(raw[h]) for h in manifest.db_deltas))
    if not stored.db_size:
        return stored
    with open(path, "wb") as f:
        hashes = manifest.db_chunks
        for first in range(0, len(hashes), LOAD_BATCH):
            batch = hashes[first : first + LOAD_BATCH]
            chunks = load(batch)
            for digest in batch:
                f.write(chunks[digest])
        if f.tell() != manifest.db_size:
            raise ValueError(f"database image is {f.tell()} bytes, manifest says {manifest.db_size}")
        f.flush()  # the deltas are written to the file descriptor, past the buffer
        for delta in deltas:
            apply(f.fileno(), delta)
    return stored


def apply(fd: int, delta: PageDelta) -> None:
    """Apply a page delta to an open database file."""
    if os.fstat(fd).st_size > delta.floor:
        os.ftruncate(fd, delta.floor)
    for offset, page in delta.pages.items():
        os.pwrite(fd, page, offset)
    os.ftruncate(fd, delta.size)
