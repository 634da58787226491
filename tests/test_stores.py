"""The checkpoint store contract (both backends) and chunked checkpoints of large databases."""

from __future__ import annotations

import contextlib
import fcntl
import random
import resource
import signal
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path

import msgpack
import pytest

from agents import StaleEpochError, StoreFailedError
from cluster.checkpoint import (
    CHUNK_SIZE,
    HEAD_SIZE,
    SEGMENT_SIZE,
    DamagedManifest,
    Manifest,
    segment,
)
from cluster.database import AgentDatabase, _remove_abandoned, new_database_path
from cluster.images import MAX_DELTAS, StoredDatabase, rebuild
from cluster.retention import Retention, _thinned
from cluster.stores import CheckpointStore, open_store


@pytest.fixture(params=["file", "redis", "postgres"])
def store_url(request: pytest.FixtureRequest) -> str:
    """The store contract holds on every backend, each a real server."""
    return request.getfixturevalue(
        {"file": "file_store_url", "redis": "redis_url", "postgres": "postgres_url"}[request.param]
    )


@pytest.fixture
def key() -> str:
    return f"Counter/{uuid.uuid4().hex}"


def test_epochs_increase_and_fence_older_writers(store_url: str, key: str) -> None:
    store = open_store(store_url, "t-stores")
    assert store.current_epoch(key) == 0
    first, second = store.bump_epoch(key), store.bump_epoch(key)
    assert (first, second) == (1, 2)
    store.save(key, second, b"new", {})
    with pytest.raises(StaleEpochError):
        store.save(key, first, b"zombie", {})
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
        store.save(keys[0], 2, b"zombie", {})
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


def test_checkpoint_roundtrip_with_chunks_history_and_collection(store_url: str, key: str) -> None:
    store = open_store(store_url, "t-stores")
    epoch = store.bump_epoch(key)
    store.save(key, epoch, b"m1", {"a": b"A" * 10, "b": b"B"}, keep_as=1)
    store.save(key, epoch, b"m2", {"c": b"C"}, keep_as=2)
    store.save(key, epoch, b"m3", {})  # not kept as a restore point
    assert store.load_manifest(key) == b"m3"
    assert store.load_chunks(key, ["b", "c"]) == {"b": b"B", "c": b"C"}
    assert key in store.keys()
    assert store.history(key) == [1, 2]
    assert (store.load_history(key, 1), store.load_history(key, 2), store.load_history(key, 3)) == (
        b"m1",
        b"m2",
        None,
    )
    assert store.chunk_names(key) == {"a", "b", "c"}
    with pytest.raises(StaleEpochError):
        store.collect(key, epoch - 1, [1], ["a"])
    store.collect(key, epoch, [1], ["a"])
    assert (store.history(key), store.chunk_names(key)) == ([2], {"b", "c"})


def test_delete_removes_everything_but_keeps_the_fence(store_url: str, key: str) -> None:
    store = open_store(store_url, "t-stores")
    epoch = store.bump_epoch(key)
    store.save(key, epoch, b"m", {"x": b"X"}, keep_as=1)
    assert not store.destroyed(key)
    store.delete(key, epoch)
    assert store.load_manifest(key) is None
    assert (store.history(key), store.chunk_names(key)) == ([], set())
    assert key not in store.keys()
    assert store.destroyed(key)
    assert store.bump_epoch(key) == epoch + 1  # a destroyed agent's zombies stay fenced
    store.save(key, epoch + 1, b"again", {})  # the ID is used again: a new agent
    assert not store.destroyed(key)


def test_traces_of_a_checkpoint_tell_a_lost_manifest_from_a_new_agent(store_url: str, key: str) -> None:
    store = open_store(store_url, "t-stores")
    epoch = store.bump_epoch(key)
    assert not store.has_traces(key)  # an epoch alone: a new agent
    store.put_chunks(key, {"x": b"X"})
    assert store.has_traces(key)
    store.save(key, epoch, b"m", {}, keep_as=1)
    store.delete(key, epoch)
    assert not store.has_traces(key)  # destroyed: a later call starts it afresh
    other = f"{key}-state-only"
    store.save(other, store.bump_epoch(other), b"m", {})
    assert store.has_traces(other) == (not store_url.startswith("postgres"))  # no record of its save


def test_manifest_roundtrip() -> None:
    manifest = Manifest(
        epoch=3,
        state=b"\x81",
        db_size=5,
        db_segments=["s"],
        db_deltas=["d"],
        seq=7,
        time=1.5,
        restored_from=4,
        results={"r": b"x"},
        sections={"s": [1, 2]},
    )
    assert Manifest.unpack(manifest.pack()) == manifest


def test_the_chunk_list_lives_in_segments_and_reads_back_in_order() -> None:
    hashes = [f"{i:032x}" for i in range(SEGMENT_SIZE * 2 + 7)] + ["0" * 32] * 3  # repeats too
    listed = segment(hashes)
    assert len(listed) == 3
    manifest = Manifest(epoch=1, state=b"", db_segments=[h for h, _ in listed])
    assert len(manifest.pack()) < 300  # the manifest does not grow with the database (~50 B: checksum)
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


def test_a_manifest_with_any_byte_damaged_is_refused() -> None:
    packed = Manifest(epoch=3, state=b"\x81\xa1n\x02", seq=2, sections={"s": [1]}).pack()
    for at in range(len(packed)):
        for flip in (0x01, 0xFF):
            damaged = bytearray(packed)
            damaged[at] ^= flip
            with pytest.raises(DamagedManifest):
                Manifest.unpack(bytes(damaged))


def test_a_version_3_manifest_without_a_checksum_still_loads() -> None:
    fields = {"epoch": 2, "state": b"s", "db_size": 0, "db_segments": [], "db_deltas": ["d"], "seq": 4}
    old = msgpack.packb({"v": 3, **fields, "time": 1.0, "results": {}, "sections": {}}, use_bin_type=True)
    manifest = Manifest.unpack(old)
    assert (manifest.epoch, manifest.state, manifest.db_deltas, manifest.seq) == (2, b"s", ["d"], 4)


def test_a_manifest_of_an_unknown_format_is_refused_naming_its_version() -> None:
    with pytest.raises(DamagedManifest, match="unknown checkpoint format version 99"):
        Manifest.unpack(msgpack.packb({"v": 99}))


class _Writer:
    """What an activation's checkpointer does with a database, without the activation: capture
    the pages each turn changed, add them to what the store holds, save."""

    def __init__(self, store: CheckpointStore, key: str) -> None:
        self.store, self.key = store, key
        self.epoch = store.bump_epoch(key)
        self.db = AgentDatabase(new_database_path())
        self.stored = StoredDatabase()
        self.seq = 0
        self.written: list[int] = []  # bytes written per checkpoint

    def load(self, hashes: Iterable[str]) -> dict[str, bytes]:
        return self.store.load_chunks(self.key, hashes)

    def turn(self, *statements: tuple) -> None:
        self.db.begin()
        for query, *params in statements:
            self.db.execute(query, *params)
        changed = self.db.changed()
        self.db.commit()
        if changed:
            self.stored, chunks = self.stored.add(self.db.take_changes(), self.load)
            self.seq += 1
            manifest = Manifest(
                epoch=self.epoch,
                state=b"",
                db_size=self.stored.size,
                db_segments=self.stored.segments,
                db_deltas=self.stored.deltas,
                seq=self.seq,
                time=time.time(),
            )
            self.store.save(self.key, self.epoch, manifest.pack(), chunks, keep_as=self.seq)
            self.written.append(sum(map(len, chunks.values())))

    def rebuilt(self, manifest: bytes | None = None) -> bytes:
        """The database the store's latest checkpoint (or `manifest`) describes, rebuilt."""
        loaded = Manifest.unpack(manifest or self.store.load_manifest(self.key) or b"")
        loaded.with_chunks(self.load(loaded.db_segments))
        path = new_database_path()
        rebuild(loaded, self.load, path)
        data = path.read_bytes() if path.exists() else b""
        path.unlink(missing_ok=True)
        return data


def test_page_deltas_rebuild_the_database_byte_for_byte(store_url: str, key: str) -> None:
    """Grows, shrinks, schema changes, VACUUM, rolled-back turns, folds into the base: after
    every checkpoint the store rebuilds exactly the live file."""
    writer = _Writer(open_store(store_url, "t-stores"), key)
    writer.turn(("CREATE TABLE t(k INTEGER PRIMARY KEY, v BLOB)",))
    chance = random.Random(7)
    for i in range(160):
        r = chance.random()
        if r < 0.55:
            writer.turn(
                ("INSERT INTO t(v) VALUES (?)", (chance.randbytes(chance.choice([10, 1000, 20000])),))
            )
        elif r < 0.75:
            writer.turn(("DELETE FROM t WHERE k % 3 = ?", (i % 3,)))
        elif r < 0.82:
            writer.turn(("VACUUM",))
        elif r < 0.88:
            writer.turn(
                (f"CREATE TABLE IF NOT EXISTS extra{i % 4}(x)",),
                (f"DROP TABLE IF EXISTS extra{(i + 1) % 4}",),
            )
        elif r < 0.94:
            writer.db.begin()
            writer.db.execute("INSERT INTO t(v) VALUES (?)", (chance.randbytes(200_000),))
            writer.db.rollback()
        else:
            writer.turn(("INSERT INTO t(v) SELECT v FROM t LIMIT 40",))
        assert writer.rebuilt() == writer.db.image(), f"after step {i}"
    assert writer.stored.deltas or writer.stored.hashes


def test_a_one_row_write_to_a_10mb_database_writes_a_few_pages() -> None:
    writer = _Writer(open_store(f"file://{tempfile.mkdtemp()}", "t-stores"), "Ledger/big")
    writer.turn(("CREATE TABLE blobs(id INTEGER PRIMARY KEY, data BLOB)",))
    writer.turn(
        (
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10000) "
            "INSERT INTO blobs(data) SELECT randomblob(1000) FROM n",
        )
    )
    assert len(writer.db.image()) > 10_000_000
    for i in range(MAX_DELTAS + 1):  # the last one folds the deltas into the base
        writer.turn(("UPDATE blobs SET data = ? WHERE id = ?", (b"\x08" * 1000, 1 + i * 97)))
    deltas, fold = writer.written[2:-1], writer.written[-1]
    assert max(deltas) <= 3 * 4096 + 200, deltas  # a few pages, not chunks or the database
    assert fold <= (MAX_DELTAS + 2) * (HEAD_SIZE + CHUNK_SIZE) + 2 * 20_000, fold  # touched chunks
    assert writer.stored.deltas == []
    assert writer.rebuilt() == writer.db.image()


def test_collection_keeps_what_a_kept_restore_point_needs(store_url: str, key: str) -> None:
    writer = _Writer(open_store(store_url, "t-stores"), key)
    writer.turn(("CREATE TABLE t(v)",))
    for i in range(2 * MAX_DELTAS):  # folds on the way: old base chunks become unreferenced
        writer.turn(("INSERT INTO t VALUES (?)", (bytes([i % 256]) * 3000,)))
    kept = {seq: writer.store.load_history(key, seq) for seq in writer.store.history(key)}
    latest = max(kept)
    window = Retention(seconds=3600)
    window.collect(writer.store, key, writer.epoch)  # nothing is older than the window
    for seq, manifest in kept.items():
        assert writer.rebuilt(manifest), seq
    collected = Retention(seconds=0).collect(writer.store, key, writer.epoch)
    assert collected.forgotten == len(kept) and collected.dropped > 0
    assert writer.store.history(key) == []
    assert writer.rebuilt() == writer.db.image()  # the latest checkpoint still has every chunk
    assert len(kept[latest] or b"") > 0


def test_a_restore_point_older_than_the_window_is_forgotten_but_the_one_at_its_start_stays(
    store_url: str, key: str
) -> None:
    writer = _Writer(open_store(store_url, "t-stores"), key)
    writer.turn(("CREATE TABLE t(v)",))
    for i in range(4):
        writer.turn(("INSERT INTO t VALUES (?)", (i,)))
    times = {seq: Manifest.unpack(writer.store.load_history(key, seq) or b"").time for seq in range(1, 6)}
    now = times[5] + 30  # within the last minute: no thinning
    cutoff = (times[3] + times[4]) / 2  # entries 1-3 are older than the window
    Retention(seconds=now - cutoff).collect(writer.store, key, writer.epoch, now=now)
    assert writer.store.history(key) == [3, 4, 5]  # 3 is the state at the window's start


def test_rebuild_refuses_a_truncated_image(tmp_path: Path) -> None:
    manifest = Manifest(epoch=1, state=b"", db_size=100, db_chunks=["h"])
    with pytest.raises(ValueError, match="manifest says"):
        rebuild(manifest, lambda hashes: {"h": b"short"}, tmp_path / "db")


def test_namespaces_sharing_a_server_or_directory_are_separate(store_url: str, key: str) -> None:
    first, second = open_store(store_url, "ns-one"), open_store(store_url, "ns-two")
    epoch = first.bump_epoch(key)
    first.save(key, epoch, b"m", {})
    first.set_alarm(key, 1.0)
    assert second.current_epoch(key) == 0
    assert second.load_manifest(key) is None
    assert key not in second.keys()
    assert second.due_alarms(10.0) == []  # another namespace's controller never wakes these agents


def test_restore_points_thin_out_with_age() -> None:
    now = 1_000_000.0
    entries = [(1, now - 7200.5), (2, now - 7200.2), (3, now - 7150), (4, now - 30.7), (5, now - 30.2)]
    entries += [(6, now - 1), (7, now - 0.5)]
    # 1 and 2 share a minute two hours ago (one kept); 4 and 5 share a second but are in the last
    # minute, where every restore point is kept.
    assert _thinned(entries, now) == [1]


def test_pragmas_and_attach_that_would_bypass_checkpoints_are_refused() -> None:
    db = AgentDatabase(new_database_path())
    db.execute("CREATE TABLE t(x)")
    refused = ("PRAGMA wal_autocheckpoint=100", "PRAGMA journal_mode=DELETE", "ATTACH 'other.db' AS o")
    for statement in refused:
        with pytest.raises(sqlite3.DatabaseError, match="bypass its checkpoints"):
            db.execute(statement)
    db.execute("INSERT INTO t VALUES (1)")
    assert db.take_changes().pages  # still captured through the WAL
    assert db.execute("PRAGMA page_count") == [{"page_count": 2}]  # other pragmas work
    db.close()


def test_the_inspectors_reads_never_show_the_mcp_clients_secrets() -> None:
    db = AgentDatabase(new_database_path())
    db.execute("CREATE TABLE _mcp_oauth(server TEXT, tokens TEXT)")
    db.execute("INSERT INTO _mcp_oauth VALUES ('search', 'refresh-token-secret')")
    db.execute("CREATE TABLE notes(body TEXT)")
    db.execute("INSERT INTO notes VALUES ('visible')")
    assert db.read("SELECT * FROM _mcp_oauth", 10).rows == [[None, None]]  # rows, never values
    assert db.read("SELECT count(*) FROM _mcp_oauth", 10).rows == [[1]]
    joined = db.read("SELECT n.body, o.tokens FROM notes n, _mcp_oauth o", 10)
    assert joined.rows == [["visible", None]]
    db.close()


def test_database_files_of_a_dead_process_are_removed_and_a_live_ones_kept(tmp_path: Path) -> None:
    dead, alive, claiming = tmp_path / "111-dead", tmp_path / "222-live", tmp_path / ".333-new"
    for directory in (dead, alive, claiming):
        directory.mkdir()
        (directory / ".lock").touch()
        (directory / "x.sqlite").write_bytes(b"x")
    with open(alive / ".lock", "wb") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # as its (live) process holds it
        _remove_abandoned(tmp_path)
    assert not dead.exists() and (alive / "x.sqlite").exists()
    assert claiming.exists()  # being claimed (locked, then renamed): never taken for abandoned


def test_collection_forgets_a_restore_point_whose_chunks_were_lost(tmp_path: Path) -> None:
    store = open_store(f"file://{tmp_path}", "t-stores")
    writer = _Writer(store, "T/lost")
    writer.turn(("CREATE TABLE t(v)",))
    for i in range(MAX_DELTAS + 2):  # a fold: the base has segments
        writer.turn(("INSERT INTO t VALUES (?)", (bytes([i]) * 20_000,)))
    damaged = 2
    manifest = Manifest.unpack(store.load_history("T/lost", damaged) or b"")
    (next(tmp_path.rglob("chunks")) / manifest.db_deltas[0]).unlink()  # lost, as after a power cut
    Retention(seconds=3600).collect(store, "T/lost", writer.epoch)
    assert damaged not in store.history("T/lost")
    assert writer.rebuilt() == writer.db.image()


@contextlib.contextmanager
def _no_room_for_writes() -> Iterator[None]:
    """Every write to a file in this process fails with EFBIG, as on a full disk: the kernel's
    `RLIMIT_FSIZE` (no privilege needed, unlike a small mount), with SIGXFSZ ignored."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)


def _leftovers(root: Path) -> list[Path]:
    return [p for p in root.rglob("*.tmp")]


@pytest.mark.parametrize("chunks", [1, 40])  # one fsync each, or the bulk path (one syncfs)
def test_a_full_disk_fails_a_save_typed_leaves_no_temporary_files_and_reads_go_on(
    tmp_path: Path, chunks: int
) -> None:
    store, key = open_store(f"file://{tmp_path}", "t-stores"), "Counter/full"
    epoch = store.bump_epoch(key)
    store.save(key, epoch, b"before", {"a": b"A"}, keep_as=1)
    new = {f"{i:032x}": bytes([i]) * 100 for i in range(chunks)}
    with _no_room_for_writes(), pytest.raises(StoreFailedError) as failed:
        store.save(key, epoch, b"after", new, keep_as=2)
    assert str(tmp_path) not in str(failed.value) and "File too large (EFBIG)" in str(failed.value)
    assert str(failed.value).startswith(f"{key}: the file store cannot write a checkpoint")
    assert _leftovers(tmp_path) == []
    with _no_room_for_writes():  # what was stored reads as before
        assert (store.load_manifest(key), store.load_chunks(key, ["a"]), store.history(key)) == (
            b"before",
            {"a": b"A"},
            [1],
        )
        assert store.current_epoch(key) == epoch


def test_temporary_files_of_a_crashed_writer_go_at_the_next_activation(tmp_path: Path) -> None:
    store, key = open_store(f"file://{tmp_path}", "t-stores"), "Counter/crashed"
    store.save(key, store.bump_epoch(key), b"m", {"a": b"A"})
    directory = next(tmp_path.rglob("manifest")).parent
    stale = [directory / ".manifest.99.1.tmp", directory / "chunks" / ".b.99.1.tmp"]
    for path in stale:
        path.write_bytes(b"half")  # as a writer killed before its rename leaves them
    store.bump_epoch(key)
    assert _leftovers(tmp_path) == []
    assert store.load_chunks(key, ["a"]) == {"a": b"A"}


def test_a_garbled_epoch_file_is_refused_typed_never_taken_for_an_older_epoch(tmp_path: Path) -> None:
    store, key = open_store(f"file://{tmp_path}", "t-stores"), "Counter/garbled"
    epoch = store.bump_epoch(key)
    store.save(key, epoch, b"m", {})
    epoch_file = next(tmp_path.rglob("epoch"))
    epoch_file.write_bytes(b"0000000000000000\x0042")  # a damaged sector
    for operation in (
        lambda: store.current_epoch(key),
        lambda: store.bump_epoch(key),
        lambda: store.save(key, epoch, b"zombie?", {}),
    ):
        with pytest.raises(StoreFailedError, match=rf"{key}: the file store cannot .*garbled epoch file"):
            operation()
    assert epoch_file.read_bytes() == b"0000000000000000\x0042"  # left for an operator to judge
    assert store.load_manifest(key) == b"m"
