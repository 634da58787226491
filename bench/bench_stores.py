"""Checkpoint stores side by side: write and wake latency on the file store, PostgreSQL, and
PostgreSQL with a synchronous standby, in one run.

    .venv/bin/python bench/bench_stores.py [--writes 300] [--seconds 3] [--wakes 20]

For each store: a lone caller's acknowledged writes (p50/p99), 16 callers' writes per second on
one agent, and the first call after hibernation (p50/p99), each as a ratio to the file store.
The PostgreSQL servers are started from the Debian package's binaries on loopback ports (the
standby on the same machine: the figures show the protocol's cost, not a network's).

Starts its own local Ray (2 CPUs) and servers, and removes them at the end.
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
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

import ray  # noqa: E402

from agents import configure, get_agent, handle_of  # noqa: E402
from bench.agents_under_bench import BenchCounter  # noqa: E402
from bench.bench_writes import drive  # noqa: E402
from bench.stats import Table, ms, rate, ratio, summarize  # noqa: E402
from tests.conftest import free_port  # noqa: E402
from tests.postgres_server import Server, server_directory  # noqa: E402


@contextmanager
def postgres(directory: Path, with_standby: bool) -> Iterator[str]:
    """A primary (with a synchronous standby, if asked); yields its URL."""
    primary = Server(directory / "primary", free_port(), "primary")
    primary.init_primary(synchronous_standby="standby1" if with_standby else None)
    primary.start()
    standby = Server(directory / "standby", free_port(), "standby1") if with_standby else None
    try:
        if standby is not None:
            standby.init_standby_of(primary)
            standby.start()
        yield primary.url
    finally:
        if standby is not None:
            standby.stop()
        primary.stop()


async def measure(label: str, store: str, args: argparse.Namespace) -> dict[str, float]:
    namespace = f"bench-stores-{label.split()[0].lower()}-{os.getpid()}-{time.monotonic_ns() % 10**6}"
    configure(namespace=namespace, store=store, hosting="dedicated")
    counter = get_agent(BenchCounter, "writes")
    await counter.add(0)
    samples = []
    for _ in range(args.writes):
        start = time.perf_counter()
        await counter.add(1)
        samples.append(time.perf_counter() - start)
    lone = summarize(samples)
    per_second, _ = await drive(lambda: counter.add(1), 16, args.seconds)
    wakes = []
    for _ in range(args.wakes):
        info = await handle_of(counter).describe()
        await ray.get_actor(info["host"], namespace=namespace).drop.remote(info["key"], info["epoch"])
        start = time.perf_counter()
        await counter.add(1)
        wakes.append(time.perf_counter() - start)
    wake = summarize(wakes)
    return {"p50": lone.p50, "p99": lone.p99, "rate": per_second, "wake50": wake.p50, "wake99": wake.p99}


async def main(args: argparse.Namespace) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="ray-agents-stores-"))
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, Ray {ray.__version__}"
    )
    ray.init(
        address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, namespace="bench-stores"
    )
    results: dict[str, dict[str, float]] = {}
    try:
        results["file (fsync)"] = await measure("file", f"file://{tmp / 'store'}", args)
        for label, standby in (("PostgreSQL", False), ("PostgreSQL + synchronous standby", True)):
            with server_directory() as directory, postgres(directory, standby) as url:
                results[label] = await measure(label, url, args)
    finally:
        ray.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)
    base = results["file (fsync)"]
    table = Table(
        f"Checkpoint stores: one dedicated agent ({args.writes} lone writes, "
        f"16 callers for {args.seconds:g} s, {args.wakes} wakes)",
        ["store", "write p50", "p99", "vs file", "writes/s (16)", "vs file", "wake p50", "p99", "vs file"],
    )
    for label, r in results.items():
        table.add(
            label,
            ms(r["p50"]),
            ms(r["p99"]),
            ratio(r["p50"], base["p50"]),
            rate(r["rate"]),
            f"{r['rate'] / base['rate']:.1f}x",
            ms(r["wake50"]),
            ms(r["wake99"]),
            ratio(r["wake50"], base["wake50"]),
        )
    print(table.text(), flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--writes", type=int, default=300, help="lone writes per store")
    parser.add_argument("--seconds", type=float, default=3.0, help="of 16 concurrent writers per store")
    parser.add_argument("--wakes", type=int, default=20, help="hibernate-and-wake rounds per store")
    asyncio.run(main(parser.parse_args()))
