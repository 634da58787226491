"""Core benchmark, part 3: checkpoint cost of small state and of a 10 MiB SQLite database, and the
in-process cost of diffing its image (see bench_core.py for how the run is set up)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agents import get_agent
from bench.agents_under_bench import FILL_ROW_BYTES, FILL_SQL, Ledger
from bench.measure import io_of, store_files, written_between
from bench.stats import Report, Summary, Table, ms, percentile, ratio, size, summarize
from cluster.checkpoint import CHUNK_SIZE, ChunkedImage, ImageDiff
from cluster.database import AgentDatabase
from cluster.stores.local import LocalDirectoryStore

#: The namespace the benchmark's agents run in (checkpoint stores are scoped by namespace).
NAMESPACE = "bench"

LEDGER_TURNS = 60  # one-row turns per database size
DB_BYTES = 10 * 1024 * 1024
DIFF_RUNS = 10


def sqlite_images(n_bytes: int) -> tuple[AgentDatabase, bytes, bytes]:
    """A ~n_bytes agent database, and its image before and after a one-row insert."""
    db = AgentDatabase(b"")
    db.execute("CREATE TABLE rows(id INTEGER PRIMARY KEY, body BLOB NOT NULL)")
    db.execute(FILL_SQL, (n_bytes // FILL_ROW_BYTES, FILL_ROW_BYTES))
    before = db.image()
    db.execute("INSERT INTO rows(body) VALUES (?)", (b"one small row",))
    return db, before, db.image()


def timed(fn: Callable[[], Any], runs: int = DIFF_RUNS) -> Summary:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return summarize(samples)


def bench_diff_in_process(report: Report, tmp: Path) -> None:
    db, before, after = sqlite_images(DB_BYTES)
    old = ChunkedImage(before)
    diff: ImageDiff = old.diff(after)
    hashing = timed(lambda: ChunkedImage(before))
    reading = timed(db.image)
    current = timed(lambda: old.diff(after))
    unchanged = timed(lambda: old.diff(before))

    table = Table(
        f"3b. In-process cost on a {size(len(after))} image ({len(old.hashes)} chunks of "
        f"{size(CHUNK_SIZE)}; p50 of {DIFF_RUNS})",
        ["operation", "p50", "max"],
    )
    table.add("serialize the in-memory database (AgentDatabase.image)", ms(reading.p50), ms(reading.max))
    table.add(
        f"ChunkedImage.diff after a one-row insert ({len(diff.new_chunks)} chunks changed)",
        ms(current.p50),
        ms(current.max),
    )
    table.add("ChunkedImage.diff, image unchanged", ms(unchanged.p50), ms(unchanged.max))
    table.add("ChunkedImage(image): hash every chunk", ms(hashing.p50), ms(hashing.max))
    report.add(table)
    report.headline["ChunkedImage.diff on 10 MiB (one-row change / unchanged)"] = (
        f"{ms(current.p50)} / {ms(unchanged.p50)}"
    )


def bench_store(tmp: Path) -> LocalDirectoryStore:
    """The file store the benchmark's agents checkpoint to, opened directly to count its files."""
    return LocalDirectoryStore(tmp / "store" / NAMESPACE)


async def bench_checkpoints(report: Report, tmp: Path) -> None:
    store = bench_store(tmp)
    table = Table(
        f"3a. Checkpoint cost per turn ({LEDGER_TURNS} one-row inserts each; file store, fsync)",
        [
            "turn",
            "p50",
            "p99",
            "chunk bytes/turn",
            "chunks/turn",
            "manifest",
            "agent read/turn",
            "agent wrote/turn",
        ],
    )
    ledgers = {"empty DB": "ledger-empty", f"{size(DB_BYTES)} DB": "ledger-big"}
    results: dict[str, Summary] = {}
    for label, agent_id in ledgers.items():
        ledger = get_agent(Ledger, agent_id)
        await ledger.size()  # activate
        info = await ledger.describe()
        directory = store._dir(info["key"])
        if agent_id == "ledger-big":
            before = store_files(directory)
            start = time.perf_counter()
            db_size = await ledger.fill(DB_BYTES)
            fill_seconds = time.perf_counter() - start
            chunk_bytes, chunks, _ = written_between(before, store_files(directory))
            table.add(
                f"fill to {size(db_size)} (one turn)",
                ms(fill_seconds),
                "",
                size(chunk_bytes),
                chunks,
                "",
                "",
                "",
            )
        io_before = io_of(info["pid"])
        samples, written, counts, manifests = [], [], [], []
        for i in range(LEDGER_TURNS):
            files = store_files(directory)
            start = time.perf_counter()
            await ledger.insert(f"row {i}")
            samples.append(time.perf_counter() - start)
            chunk_bytes, chunks, manifest = written_between(files, store_files(directory))
            written.append(chunk_bytes)
            counts.append(chunks)
            manifests.append(manifest)
        io_after = io_of(info["pid"])
        stats = results[label] = summarize(samples)
        table.add(
            f"insert one row, {label}",
            ms(stats.p50),
            ms(stats.p99),
            size(percentile(written, 50)),
            f"{percentile(counts, 50):.0f}",
            size(percentile(manifests, 50)),
            size((io_after["rchar"] - io_before["rchar"]) / LEDGER_TURNS),
            size((io_after["wchar"] - io_before["wchar"]) / LEDGER_TURNS),
        )
    report.add(table)
    report.notes.append(
        "'agent read/wrote per turn' are the agent process's read()/write() syscall bytes "
        "(/proc/<pid>/io rchar/wchar, including Ray sockets)."
    )
    big, empty = results[f"{size(DB_BYTES)} DB"], results["empty DB"]
    report.headline["one-row turn p50 (10 MiB DB / empty DB)"] = (
        f"{ms(big.p50)} / {ms(empty.p50)} = {ratio(big.p50, empty.p50)}"
    )
    bench_diff_in_process(report, tmp)
