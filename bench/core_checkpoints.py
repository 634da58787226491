"""Core benchmark, part 3: checkpoint cost of small state and of a 10 MiB SQLite database, and the
in-process cost of capturing the pages a turn changed (see bench_core.py for how the run is set up)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agents import get_agent
from bench.agents_under_bench import FILL_ROW_BYTES, FILL_SQL, Ledger
from bench.measure import io_of, store_files, written_between
from bench.stats import Report, Summary, Table, ms, percentile, ratio, size, summarize
from cluster.database import AgentDatabase, new_database_path
from cluster.images import StoredDatabase
from cluster.stores.local import LocalDirectoryStore

#: The namespace the benchmark's agents run in (checkpoint stores are scoped by namespace).
NAMESPACE = "bench"

LEDGER_TURNS = 60  # one-row turns per database size
DB_BYTES = 10 * 1024 * 1024
CAPTURE_RUNS = 50


def sqlite_database(n_bytes: int) -> AgentDatabase:
    """An agent database of ~n_bytes, its pages captured."""
    db = AgentDatabase(new_database_path())
    db.execute("CREATE TABLE rows(id INTEGER PRIMARY KEY, body BLOB NOT NULL)")
    if n_bytes:
        db.execute(FILL_SQL, (n_bytes // FILL_ROW_BYTES, FILL_ROW_BYTES))
    db.take_changes()
    return db


def timed(fn: Callable[[], Any], runs: int = CAPTURE_RUNS) -> Summary:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return summarize(samples)


def bench_capture_in_process(report: Report) -> None:
    """What a write turn costs the activation's thread at its end: read the pages it changed
    from the WAL and fold them into the file, then add them to what the store holds."""
    table = Table(
        f"3b. In-process cost of capturing a one-row insert (p50 of {CAPTURE_RUNS})",
        ["database", "capture (take_changes)", "add to the stored image", "pages"],
    )
    figures = {}
    for label, n_bytes in (("empty", 0), (size(DB_BYTES), DB_BYTES)):
        db = sqlite_database(n_bytes)
        captured = []

        def capture(db: AgentDatabase = db, captured: list = captured) -> None:
            db.execute("INSERT INTO rows(body) VALUES (?)", (b"one small row",))
            captured.append(db.take_changes())

        taking = timed(capture)
        stored = StoredDatabase(size=len(db.image()))
        adding = timed(lambda stored=stored, captured=captured: stored.add(captured[-1], dict))
        table.add(label, ms(taking.p50), ms(adding.p50), len(captured[-1].pages))
        figures[label] = taking.p50
        db.close()
    report.add(table)
    report.headline[f"capture of a one-row insert ({size(DB_BYTES)} DB / empty)"] = (
        f"{ms(figures[size(DB_BYTES)])} / {ms(figures['empty'])}"
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
    bench_capture_in_process(report)
