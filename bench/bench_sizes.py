"""What an agent's database size costs: one-row writes, wakes, restores and forks, one run.

    .venv/bin/python bench/bench_sizes.py [--sizes 0,10,100,1024] [--writes 50]

For agents whose SQLite database holds about 0, 10, 100 and 1024 MiB: the time of a one-row write
(p50/p99, acknowledged = checkpointed with fsync) and the bytes it adds to the store, each as a
ratio to the empty database measured in the same run; then the first call after hibernation
(the database is rebuilt from the store), a restore to the checkpoint before the last write, and
a fork of the latest checkpoint to a new ID (its chunks are copied).

Starts its own local Ray (2 CPUs) with a temporary file store (fsync), and removes both at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

import ray  # noqa: E402

from agents import configure, get_agent, handle_of  # noqa: E402
from bench.agents_under_bench import Ledger  # noqa: E402
from bench.stats import Table, ms, ratio, size, summarize  # noqa: E402
from cluster.stores.local import LocalDirectoryStore  # noqa: E402

NAMESPACE = "bench-sizes"
MiB = 1024 * 1024
#: Bytes added per fill turn (a turn's pages pass through memory once as its WAL).
FILL_STEP = 64 * MiB


def chunk_names(directory: Path) -> set[str]:
    return set(os.listdir(directory / "chunks"))


def new_bytes(directory: Path, before: set[str]) -> int:
    """Bytes of the chunks and manifest a write added (the manifest is rewritten whole)."""
    chunks = directory / "chunks"
    added = sum((chunks / name).stat().st_size for name in chunk_names(directory) - before)
    return added + (directory / "manifest").stat().st_size


async def hibernate(handle: object) -> None:
    """Stop the agent's activation now (as idleness would); its checkpoint stays in the store."""
    info = await handle_of(handle).describe()
    await ray.get_actor(info["host"], namespace=NAMESPACE).drop.remote(info["key"], info["epoch"])


async def main(args: argparse.Namespace) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="ray-agents-sizes-"))
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, Ray {ray.__version__}"
    )
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, namespace=NAMESPACE)
    configure(namespace=NAMESPACE, store=f"file://{tmp / 'store'}")
    store = LocalDirectoryStore(tmp / "store" / NAMESPACE)
    writes = Table(
        f"One-row write by database size ({args.writes} sequential writes; file store, fsync)",
        ["database", "p50", "p99", "p50 vs empty", "bytes/write", "vs empty"],
    )
    others = Table(
        "Wake, restore and fork by database size",
        ["database", "fill", "wake (first call)", "restore", "fork (copy + wake)"],
    )
    empty: tuple[float, float] | None = None
    try:
        for mib in args.sizes:
            ledger = get_agent(Ledger, f"ledger-{mib}")
            db_size = await ledger.size()
            started = time.perf_counter()
            while db_size < mib * MiB:
                db_size = await ledger.fill(min(FILL_STEP, mib * MiB - db_size))
            fill = time.perf_counter() - started
            directory = store._dir((await handle_of(ledger).describe())["key"])
            samples, written = [], []
            for i in range(args.writes):
                before = chunk_names(directory)
                start = time.perf_counter()
                await ledger.insert(f"row {i}")
                samples.append(time.perf_counter() - start)
                written.append(new_bytes(directory, before))
            s, per_write = summarize(samples), sorted(written)[len(written) // 2]
            empty = empty or (s.p50, per_write)
            writes.add(
                size(db_size),
                ms(s.p50),
                ms(s.p99),
                ratio(s.p50, empty[0]),
                size(per_write),
                ratio(per_write, empty[1]),
            )
            await hibernate(ledger)
            start = time.perf_counter()
            await ledger.size()
            wake = time.perf_counter() - start
            points = await handle_of(ledger).list_checkpoints()
            start = time.perf_counter()
            await handle_of(ledger).restore(points[-2].id)
            restore = time.perf_counter() - start
            start = time.perf_counter()
            fork = await handle_of(ledger).fork(f"ledger-{mib}-fork")
            await fork.size()
            forked = time.perf_counter() - start
            others.add(size(db_size), f"{fill:.1f} s", ms(wake), ms(restore), ms(forked))
            await hibernate(fork)
            await hibernate(ledger)
        print(writes.text(), flush=True)
        print(others.text(), flush=True)
    finally:
        ray.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--sizes",
        type=lambda text: [int(x) for x in text.split(",")],
        default=[0, 10, 100, 1024],
        help="database sizes in MiB, comma-separated (the first is the baseline)",
    )
    parser.add_argument("--writes", type=int, default=50, help="one-row writes per size")
    asyncio.run(main(parser.parse_args()))
