"""The checkpoint store contract (both backends) and chunked checkpoints of large databases."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path

import msgpack
import pytest

from agents import StaleEpochError
from cluster.checkpoint import (
    CHUNK_SIZE,
    HEAD_SIZE,
    SEGMENT_SIZE,
    ChunkedImage,
    Manifest,
    chunk_bounds,
    segment,
)
from cluster.stores import open_store


@pytest.fixture
def key() -> str:
    return f"Counter/{uuid.uuid4().hex}"


def test_epochs_increase_and_fence_older_writers(store_url: str, key: str) -> None:
    store = open_store(store_url, "t-stores")
    assert store.current_epoch(key) == 0
    first, second = store.bump_epoch(key), store.bump_epoch(key)
    assert (first, second) == (1, 2)
    store.save(key, second, b"new", {}, ())
    with pytest.raises(StaleEpochError):
        store.save(key, first, b"zombie", {}, ())
    with pytest.raises(StaleEpochError):
        store.delete(key, first)
    assert store.load_manifest(key) == b"new"


def test_a_batch_of_epoch_bumps_is_the_same_as_bumping_each(store_url: str) -> None:
    store = open_store(store_url, "t-stores")
    keys = [f"Counter/{uuid.uuid4().hex}" for _ in range(5)]
    store.bump_epoch(keys[0])
    assert store.bump_epochs(keys) == [2, 1, 1, 1, 1]
    assert store.bump_epochs(keys[:2]) == [3, 2]
    assert [store.current_epoch(k) for k in keys] == [3, 2, 1, 1, 1]
    with pytest.raises(StaleEpochError):
        store.save(keys[0], 2, b"zombie", {}, ())
    assert store.bump_epochs([]) == []


def test_epoch_files_of_an_older_version_are_read_and_bumped(tmp_path: Path) -> None:
    store = open_store(f"file://{tmp_path}", "t-stores")
    key = "Counter/old"
    store.bump_epoch(key)
    epoch_file = next(tmp_path.rglob("epoch"))
    epoch_file.write_bytes(b"41")  # written whole (and shorter) by an older version
    assert store.current_epoch(key) == 41
    assert store.bump_epoch(key) == 42
    assert epoch_file.read_bytes() == b"42".zfill(20)


def test_checkpoint_roundtrip_with_chunks_and_drops(store_url: str, key: str) -> None:
    store = open_store(store_url, "t-stores")
    epoch = store.bump_epoch(key)
    store.save(key, epoch, b"m1", {"a": b"A" * 10, "b": b"B"}, ())
    store.save(key, epoch, b"m2", {"c": b"C"}, {"a"})
    assert store.load_manifest(key) == b"m2"
    assert store.load_chunks(key, ["b", "c"]) == {"b": b"B", "c": b"C"}
    assert key in store.keys()


def test_delete_removes_everything_but_keeps_the_fence(store_url: str, key: str) -> None:
    store = open_store(store_url, "t-stores")
    epoch = store.bump_epoch(key)
    store.save(key, epoch, b"m", {"x": b"X"}, ())
    store.delete(key, epoch)
    assert store.load_manifest(key) is None
    assert key not in store.keys()
    assert store.bump_epoch(key) == epoch + 1  # a destroyed agent's zombies stay fenced


def test_manifest_roundtrip() -> None:
    manifest = Manifest(
        epoch=3, state=b"\x81", db_size=5, db_segments=["s"], results={"r": b"x"}, sections={"s": [1, 2]}
    )
    assert Manifest.unpack(manifest.pack()) == manifest


def test_the_chunk_list_lives_in_segments_and_reads_back_in_order() -> None:
    hashes = [f"{i:032x}" for i in range(SEGMENT_SIZE * 2 + 7)] + ["0" * 32] * 3  # repeats too
    listed = segment(hashes)
    assert len(listed) == 3
    manifest = Manifest(epoch=1, state=b"", db_segments=[h for h, _ in listed])
    assert len(manifest.pack()) < 200  # the manifest does not grow with the database
    again = Manifest.unpack(manifest.pack()).with_chunks(dict(listed))
    assert again.db_chunks == hashes


def test_a_version_1_manifest_still_loads() -> None:
    old = msgpack.packb(
        {
            "v": 1,
            "epoch": 2,
            "state": b"s",
            "db_size": 3,
            "db_chunks": ["a", "b"],
            "results": {},
            "sections": {},
        },
        use_bin_type=True,
    )
    manifest = Manifest.unpack(old)
    assert (manifest.epoch, manifest.db_chunks, manifest.db_segments) == (2, ["a", "b"], [])
    assert manifest.with_chunks({}).db_chunks == ["a", "b"]


def _database(path: Path, megabytes: int) -> bytes:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE blobs(id INTEGER PRIMARY KEY, data BLOB)")
    conn.executemany("INSERT INTO blobs(data) VALUES (?)", [(b"\x07" * 1000,)] * (megabytes * 1000))
    conn.commit()
    conn.close()
    return path.read_bytes()


def test_small_write_to_a_10mb_database_rewrites_few_chunks(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    image = ChunkedImage(_database(path, 10))
    assert len(image.image) > 10_000_000
    conn = sqlite3.connect(path)
    conn.execute("UPDATE blobs SET data = ? WHERE id = 4242", (b"\x08" * 1000,))
    conn.commit()
    conn.close()
    diff = image.diff(path.read_bytes())
    written = sum(len(c) for c in diff.new_chunks.values())
    assert 0 < written <= HEAD_SIZE + 2 * CHUNK_SIZE, written  # header page + the changed leaf
    assert len(diff.dropped) == len(diff.new_chunks)
    image.advance(path.read_bytes(), diff)
    bounds = chunk_bounds(len(image.image))
    chunks = {h: image.image[s:e] for h, (s, e) in zip(image.hashes, bounds, strict=True)}
    rebuilt = ChunkedImage.assemble(len(image.image), image.hashes, chunks)
    assert rebuilt.image == path.read_bytes()


def test_namespaces_sharing_a_server_or_directory_are_separate(store_url: str, key: str) -> None:
    first, second = open_store(store_url, "ns-one"), open_store(store_url, "ns-two")
    epoch = first.bump_epoch(key)
    first.save(key, epoch, b"m", {}, ())
    first.set_alarm(key, 1.0)
    assert second.current_epoch(key) == 0
    assert second.load_manifest(key) is None
    assert key not in second.keys()
    assert second.due_alarms(10.0) == []  # another namespace's controller never wakes these agents


def test_assemble_refuses_a_truncated_image() -> None:
    with pytest.raises(ValueError, match="manifest says"):
        ChunkedImage.assemble(100, ["h"], {"h": b"short"})
