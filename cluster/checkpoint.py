"""The checkpoint format (a msgpack manifest) and chunked diffs of an agent's SQLite image."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import msgpack

#: 2: the chunk list lives in segment chunks (`db_segments`), so the manifest stays small;
#: version 1 manifests (the chunk list inline) still load, and the next write upgrades them.
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
#: Chunk hashes per segment: a 1 GiB database (~32k chunks) has a manifest of 64 segment hashes,
#: and a one-row write rewrites one segment (~17 KiB) besides its chunks.
SEGMENT_SIZE = 512
#: Chunk size of the SQLite image: 8 pages of 4 KiB. Small enough that a one-row write rewrites
#: tens of KiB, large enough that a 10 MB database is ~300 chunks.
CHUNK_SIZE = 32 * 1024
#: The first chunk is one page on its own: SQLite bumps the change counter in page 1 on every
#: write, so keeping it small keeps that always-rewritten chunk small.
HEAD_SIZE = 4096


def chunk_bounds(size: int) -> list[tuple[int, int]]:
    """(start, end) of each chunk of an image of `size` bytes."""
    if size <= HEAD_SIZE:
        return [(0, size)] if size else []
    return [(0, HEAD_SIZE)] + [(s, min(s + CHUNK_SIZE, size)) for s in range(HEAD_SIZE, size, CHUNK_SIZE)]


@dataclass
class Manifest:
    """Everything in a checkpoint except the database chunks themselves. The database's chunk
    list is stored in segments (chunks of their own, `db_segments`); `db_chunks` is filled in
    from them when a checkpoint is read (`with_chunks`)."""

    epoch: int
    state: bytes
    db_size: int = 0
    db_chunks: list[str] = field(default_factory=list)
    #: request id -> packed result envelope of recent state-changing calls (idempotent retries).
    results: dict[str, bytes] = field(default_factory=dict)
    #: Named sections other subsystems add (schedules, connections, ...): name -> msgpack data.
    sections: dict[str, Any] = field(default_factory=dict)
    #: Hashes of the segment chunks that list `db_chunks`, SEGMENT_SIZE hashes each.
    db_segments: list[str] = field(default_factory=list)

    def pack(self) -> bytes:
        return msgpack.packb(
            {
                "v": FORMAT_VERSION,
                "epoch": self.epoch,
                "state": self.state,
                "db_size": self.db_size,
                "db_segments": self.db_segments,
                "results": self.results,
                "sections": self.sections,
            },
            use_bin_type=True,
        )

    @classmethod
    def unpack(cls, data: bytes) -> Manifest:
        """A manifest as stored; for version 2, `db_chunks` is empty until `with_chunks`."""
        raw = msgpack.unpackb(data, raw=False)
        if raw.get("v") not in READABLE_VERSIONS:
            raise ValueError(f"unsupported checkpoint format version {raw.get('v')!r}")
        return cls(
            epoch=raw["epoch"],
            state=raw["state"],
            db_size=raw["db_size"],
            db_chunks=list(raw.get("db_chunks", [])),
            results=dict(raw["results"]),
            sections=dict(raw["sections"]),
            db_segments=list(raw.get("db_segments", [])),
        )

    def with_chunks(self, segments: dict[str, bytes]) -> Manifest:
        """Fill in `db_chunks` from the segment chunks (`segments`: hash -> bytes)."""
        if self.db_segments:
            self.db_chunks = [h for s in self.db_segments for h in msgpack.unpackb(segments[s], raw=False)]
        return self


def segment(hashes: list[str]) -> list[tuple[str, bytes]]:
    """The segment chunks listing `hashes`, in order: (segment hash, packed hash list)."""
    packed = [msgpack.packb(hashes[i : i + SEGMENT_SIZE]) for i in range(0, len(hashes), SEGMENT_SIZE)]
    return [(chunk_hash(p), p) for p in packed]


def chunk_hash(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


@dataclass
class ImageDiff:
    """What a new checkpoint must write and may drop."""

    hashes: list[str]
    new_chunks: dict[str, bytes]
    dropped: set[str]


class ChunkedImage:
    """The last checkpointed SQLite image, to find which chunks a new image changed."""

    def __init__(self, image: bytes = b"", hashes: list[str] | None = None) -> None:
        self.image = image
        self.hashes = (
            hashes if hashes is not None else [chunk_hash(image[s:e]) for s, e in chunk_bounds(len(image))]
        )

    @classmethod
    def assemble(cls, size: int, hashes: list[str], chunks: dict[str, bytes]) -> ChunkedImage:
        image = b"".join(chunks[h] for h in hashes)
        if len(image) != size:
            raise ValueError(f"database image is {len(image)} bytes, manifest says {size}")
        return cls(image, list(hashes))

    def diff(self, image: bytes) -> ImageDiff:
        """Chunks of `image` that differ from the checkpointed one. Compares bytes slices (memcmp;
        memoryview comparison goes item by item and is ~10x slower)."""
        old = self.image
        hashes: list[str] = []
        new_chunks: dict[str, bytes] = {}
        for index, (start, end) in enumerate(chunk_bounds(len(image))):
            piece = image[start:end]
            if index < len(self.hashes) and piece == old[start:end]:
                hashes.append(self.hashes[index])
                continue
            digest = chunk_hash(piece)
            hashes.append(digest)
            new_chunks[digest] = piece
        known = set(self.hashes)
        for digest in [d for d in new_chunks if d in known]:
            del new_chunks[digest]  # content already stored under that hash
        return ImageDiff(hashes, new_chunks, known - set(hashes))

    def advance(self, image: bytes, diff: ImageDiff) -> None:
        """Adopt `image` as the checkpointed one after `diff` was saved."""
        self.image = image
        self.hashes = diff.hashes
