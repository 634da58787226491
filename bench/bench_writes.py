"""Durable writes on ONE agent: group commit vs a raw actor that fsyncs once per write, one run.

    .venv/bin/python bench/bench_writes.py [--seconds 5]

For 1, 4 and 16 concurrent callers: acknowledged writes per second and their latency (p50/p99)
on one checkpointed counter (dedicated and pooled), and on a raw Ray actor whose `add_durable`
writes, fsyncs, renames and fsyncs the directory per call (the floor of a write that is durable
before it is acknowledged, one at a time). The agent's turns still run one at a time; what group
commit changes is that consecutive turns share one checkpoint, and each result leaves once a
checkpoint covering it has landed.

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
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

import ray  # noqa: E402

from agents import configure, get_agent  # noqa: E402
from bench.agents_under_bench import BenchCounter, PooledCounter  # noqa: E402
from bench.raw_actors import RawCounter  # noqa: E402
from bench.stats import Table, ms, rate, ratio, summarize  # noqa: E402

NAMESPACE = "bench-writes"
CALLERS = (1, 4, 16)


async def drive(
    write: Callable[[], Awaitable[Any]], callers: int, seconds: float
) -> tuple[float, list[float]]:
    """`callers` loops calling `write` back to back for `seconds`: (writes/s, latencies)."""
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def caller() -> None:
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            await write()
            latencies.append(time.perf_counter() - start)

    began = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(callers)))
    return len(latencies) / (time.perf_counter() - began), latencies


async def main(args: argparse.Namespace) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="ray-agents-writes-"))
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, Ray {ray.__version__}"
    )
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, namespace=NAMESPACE)
    configure(namespace=NAMESPACE, store=f"file://{tmp / 'store'}")
    (tmp / "raw").mkdir()
    try:
        raw = ray.remote(RawCounter).options(num_cpus=0.001).remote(str(tmp / "raw"))
        dedicated, pooled = get_agent(BenchCounter, "writes"), get_agent(PooledCounter, "writes")
        await raw.add_durable.remote(0)
        await dedicated.add(0)
        await pooled.add(0)
        table = Table(
            "Acknowledged durable writes on one agent (file store, fsync)",
            ["target", "callers", "writes/s", "vs raw", "p50", "p99", "p50 vs raw"],
        )
        targets: dict[str, Callable[[], Awaitable[Any]]] = {
            "raw actor, write + fsync per call": lambda: raw.add_durable.remote(1),
            "dedicated agent, add()": lambda: dedicated.add(1),
            "pooled agent, add()": lambda: pooled.add(1),
        }
        for callers in CALLERS:
            results = {name: await drive(write, callers, args.seconds) for name, write in targets.items()}
            base_rate, base = results["raw actor, write + fsync per call"]
            base_p50 = summarize(base).p50
            for name, (per_second, latencies) in results.items():
                s = summarize(latencies)
                table.add(
                    name,
                    str(callers),
                    rate(per_second),
                    f"{per_second / base_rate:.1f}x",
                    ms(s.p50),
                    ms(s.p99),
                    ratio(s.p50, base_p50),
                )
        print(table.text(), flush=True)
    finally:
        ray.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="per target and caller count")
    asyncio.run(main(parser.parse_args()))
