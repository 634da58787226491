"""The checkpoint format: a small msgpack manifest, the database as a base image in chunks, and
page deltas over that base."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import msgpack

#: 4: the fields are packed on their own (`body`) beside their hash (`sum`): a damaged byte
#: anywhere in the manifest is `DamagedManifest`, never different state.
#: 3: page deltas over the base image (`db_deltas`), and a checkpoint number and time (restore).
#: 2: the chunk list lives in segment chunks (`db_segments`), so the manifest stays small.
#: Versions 1 to 3 still load as they are (without a checksum: damage to them goes unnoticed
#: unless it breaks their encoding); the next write upgrades them.
FORMAT_VERSION = 4
READABLE_VERSIONS = (1, 2, 3, 4)
#: Chunk hashes per segment: a 1 GiB database (~32k chunks) has a manifest of 64 segment hashes.
SEGMENT_SIZE = 512
#: Chunk size of the base image: 8 pages of 4 KiB. Small enough that folding a few changed pages
#: into the base rewrites tens of KiB, large enough that a 10 MB database is ~300 chunks.
CHUNK_SIZE = 32 * 1024
#: The first chunk is one page on its own: SQLite changes page 1 on many writes, so keeping it
#: small keeps that often-rewritten chunk small.
HEAD_SIZE = 4096


def chunk_count(size: int) -> int:
    if size <= HEAD_SIZE:
        return 1 if size else 0
    return 1 + -(-(size - HEAD_SIZE) // CHUNK_SIZE)


def chunk_span(index: int, size: int) -> tuple[int, int]:
    """(start, end) of chunk `index` of an image of `size` bytes."""
    if index == 0:
        return 0, min(HEAD_SIZE, size)
    start = HEAD_SIZE + (index - 1) * CHUNK_SIZE
    return start, min(start + CHUNK_SIZE, size)


def chunks_under(start: int, end: int) -> range:
    """Indexes of the chunks that bytes [start, end) fall in."""
    first = 0 if start < HEAD_SIZE else 1 + (start - HEAD_SIZE) // CHUNK_SIZE
    last = 0 if end <= HEAD_SIZE else 1 + (end - 1 - HEAD_SIZE) // CHUNK_SIZE
    return range(first, last + 1)


@dataclass(frozen=True)
class PageDelta:
    """Pages changed over an earlier image, applied as: cut the image to `floor` bytes, write
    `pages` (byte offset -> bytes), set its size to `size` (bytes never written read as zeros,
    as in a file SQLite shrank and grew again)."""

    size: int
    floor: int
    pages: dict[int, bytes]

    def then(self, later: PageDelta) -> PageDelta:
        """One delta doing this one, then `later`."""
        kept = {o: p for o, p in self.pages.items() if o + len(p) <= later.floor and o not in later.pages}
        return PageDelta(later.size, min(self.floor, later.floor), kept | later.pages)

    def pack(self) -> bytes:
        return msgpack.packb({"size": self.size, "floor": self.floor, "pages": self.pages})

    @classmethod
    def unpack(cls, data: bytes) -> PageDelta:
        raw = msgpack.unpackb(data, raw=False, strict_map_key=False)
        return cls(raw["size"], raw["floor"], dict(raw["pages"]))

    @classmethod
    def merged(cls, deltas: list[PageDelta]) -> PageDelta | None:
        result = None
        for delta in deltas:
            result = delta if result is None else result.then(delta)
        return result


@dataclass
class Manifest:
    """Everything in a checkpoint except the database chunks themselves. The base image's chunk
    list is stored in segments (chunks of their own, `db_segments`); `db_chunks` is filled in
    from them when a checkpoint is read (`with_chunks`). The database is the base image (`db_size`
    bytes) with the page deltas `db_deltas` (chunk hashes, oldest first) applied in order."""

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
    db_deltas: list[str] = field(default_factory=list)
    #: Checkpoint number (1, 2, ... per agent) and when it was written (Unix time).
    seq: int = 0
    time: float = 0.0
    #: The checkpoint this one restored (`restore`), if it is a restore.
    restored_from: int | None = None
    #: When unreferenced chunks were last collected (Unix time; `cluster.retention`).
    collected: float = 0.0

    def chunk_refs(self) -> set[str]:
        """Every chunk this checkpoint needs (call `with_chunks` first)."""
        return set(self.db_chunks) | set(self.db_segments) | set(self.db_deltas)

    def pack(self) -> bytes:
        body = msgpack.packb(
            {
                "epoch": self.epoch,
                "state": self.state,
                "db_size": self.db_size,
                "db_segments": self.db_segments,
                "db_deltas": self.db_deltas,
                "seq": self.seq,
                "time": self.time,
                "restored_from": self.restored_from,
                "collected": self.collected,
                "results": self.results,
                "sections": self.sections,
            },
            use_bin_type=True,
        )
        return msgpack.packb({"v": FORMAT_VERSION, "sum": chunk_hash(body), "body": body}, use_bin_type=True)

    @classmethod
    def unpack(cls, data: bytes) -> Manifest:
        """A manifest as stored (`DamagedManifest` if it is not one); from version 2 on,
        `db_chunks` is empty until `with_chunks`."""
        try:
            return cls._from_fields(_fields(data))
        except DamagedManifest:
            raise
        except Exception as exc:  # a damaged byte may break the encoding anywhere
            raise DamagedManifest(f"it does not decode ({type(exc).__name__}: {exc})") from None

    @classmethod
    def _from_fields(cls, raw: dict[str, Any]) -> Manifest:
        return cls(
            epoch=raw["epoch"],
            state=raw["state"],
            db_size=raw["db_size"],
            db_chunks=list(raw.get("db_chunks", [])),
            results=dict(raw["results"]),
            sections=dict(raw["sections"]),
            db_segments=list(raw.get("db_segments", [])),
            db_deltas=list(raw.get("db_deltas", [])),
            seq=raw.get("seq", 0),
            time=raw.get("time", 0.0),
            restored_from=raw.get("restored_from"),
            collected=raw.get("collected", 0.0),
        )

    def with_chunks(self, segments: dict[str, bytes]) -> Manifest:
        """Fill in `db_chunks` from the segment chunks (`segments`: hash -> bytes)."""
        if self.db_segments:
            self.db_chunks = [h for s in self.db_segments for h in segment_hashes(segments[s])]
        return self


class DamagedManifest(ValueError):
    """Bytes that are not an intact manifest: a checksum that does not match, an encoding that
    does not decode, or an unknown format version."""


def _fields(data: bytes) -> dict[str, Any]:
    """The manifest's fields, checked against their checksum (versions 1 to 3 have none)."""
    raw = msgpack.unpackb(data, raw=False)
    version = raw.get("v")
    if version not in READABLE_VERSIONS:
        raise DamagedManifest(f"unknown checkpoint format version {version!r} (a newer ray-agents wrote it?)")
    if version < 4:
        return raw
    if chunk_hash(raw["body"]) != raw["sum"]:
        raise DamagedManifest("its checksum does not match")
    return msgpack.unpackb(raw["body"], raw=False)


def segment(hashes: list[str]) -> list[tuple[str, bytes]]:
    """The segment chunks listing `hashes`, in order: (segment hash, packed hash list)."""
    packed = [msgpack.packb(hashes[i : i + SEGMENT_SIZE]) for i in range(0, len(hashes), SEGMENT_SIZE)]
    return [(chunk_hash(p), p) for p in packed]


def segment_hashes(packed: bytes) -> list[str]:
    """The chunk hashes a segment chunk lists."""
    return msgpack.unpackb(packed, raw=False)


def chunk_hash(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()
