"""Density benchmark: pooled vs dedicated hosting vs raw Ray actors, measured side by side in one run.

    .venv/bin/python bench/bench_density.py [--agents 10000] [--max-agents 0] [--only wakes,calls]

1. Wake of a hibernated agent (p50/p99): pooled; dedicated onto a spare host started ahead, and
   with spares off; and creating a raw Ray actor plus its first call (what any design that starts
   an actor per wake pays).
2. Activation throughput through one controller: new pooled agents activated concurrently, in
   bursts (a fan-out: many new IDs at once) and steadily (each caller on to its next new ID).
3. Memory: pooled hosts' RSS/USS with 1,000 and `--agents` live agents (KiB per agent beyond a
   host's own), and, with `--max-agents N`, as many as N (the 100,000-agent figure).
4. Call latency, read and write, p50/p99, against raw actor calls in the same run, both modes:
   an argument-less raw call, and a raw call carrying the call as one bytes argument (Ray charges
   ~0.1 ms for any argument; that is the floor of a call that has to say what it calls).

Starts its own local Ray (2 CPUs) with a temporary file store, and removes both at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pickle
import platform
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

import ray  # noqa: E402

from agents import configure, get_agent, list_agents  # noqa: E402
from agents.handle import handle_of  # noqa: E402
from bench.agents_under_bench import (  # noqa: E402
    BenchCounter,
    PooledCounter,
    PooledSleepyCounter,
    SleepyCounter,
)
from bench.measure import interleaved, memory_of  # noqa: E402
from bench.raw_actors import RawCounter  # noqa: E402
from bench.stats import Table, ms, rate, ratio, size, summarize  # noqa: E402
from cluster import routing  # noqa: E402
from cluster.config import RuntimeConfig  # noqa: E402
from cluster.naming import agent_key  # noqa: E402

NAMESPACE = "bench-density"
WAKES = {"pooled": 200, "dedicated": 20, "raw": 20}
THROUGHPUT_AGENTS = 4000
CONCURRENCY = 200


async def in_batches(coros: list, size: int = CONCURRENCY) -> list:
    out = []
    for start in range(0, len(coros), size):
        out += await asyncio.gather(*coros[start : start + size])
    return out


async def hibernate(handles: list) -> None:
    """Drop each agent from its host at once (as idleness or eviction would) and wait until the
    controller no longer lists it."""
    infos = await asyncio.gather(*(handle_of(h).describe() for h in handles))
    for info in infos:
        if info["hosting"] == "pooled":
            await ray.get_actor(info["host"], namespace=NAMESPACE).drop.remote(info["key"], info["epoch"])
    keys = {info["key"] for info in infos}
    while keys & set((await list_agents())["live"]):
        await asyncio.sleep(0.05)


async def bench_wakes() -> Table:
    table = Table("1. Wake of a hibernated agent (first call after hibernation)", ["what", "n", "p50", "p99"])
    pooled = [get_agent(PooledSleepyCounter, f"wake-{i}") for i in range(WAKES["pooled"])]
    await in_batches([h.add(1) for h in pooled])
    await hibernate(pooled)
    samples = []
    for h in pooled:
        start = time.perf_counter()
        assert await h.get() == 1
        samples.append(time.perf_counter() - start)
    s = summarize(samples)
    table.add("pooled agent", str(len(samples)), ms(s.p50), ms(s.p99))
    pooled_p50 = s.p50

    s = summarize(await dedicated_wakes())
    table.add("dedicated agent (onto a spare host started ahead)", str(s.n), ms(s.p50), ms(s.p99))
    store = routing.router().config.store
    routing.configure(
        RuntimeConfig(namespace=f"{NAMESPACE}-cold", store_url=store, dedicated_spares_per_node=0)
    )
    s = summarize(await dedicated_wakes())
    table.add("dedicated agent, no spares (a new process)", str(s.n), ms(s.p50), ms(s.p99))
    configure(namespace=NAMESPACE, store=store)

    raw = ray.remote(RawCounter)
    samples = []
    for _ in range(WAKES["raw"]):
        start = time.perf_counter()
        actor = raw.options(num_cpus=0.001).remote()
        await actor.get.remote()
        samples.append(time.perf_counter() - start)
        ray.kill(actor)
    s = summarize(samples)
    table.add("raw Ray actor: create + first call", str(len(samples)), ms(s.p50), ms(s.p99))
    table.add("raw new actor / pooled wake (p50)", "", f"{s.p50 / pooled_p50:.0f}x", "")
    return table


async def dedicated_wakes() -> list[float]:
    """Wake times of dedicated agents that hibernated by themselves (idle_timeout 0.5 s)."""
    samples = []
    for i in range(WAKES["dedicated"]):
        h = get_agent(SleepyCounter, f"wake-{i}")
        await h.add(1)
        while agent_key(SleepyCounter.type_name, handle_of(h).id) in (await list_agents())["live"]:
            await asyncio.sleep(0.05)
        start = time.perf_counter()
        assert await h.get() == 1
        samples.append(time.perf_counter() - start)
    return samples


async def bench_activations() -> Table:
    table = Table(
        "2. Activation throughput through one controller (new IDs, first call each)",
        ["what", "agents", "seconds", "rate"],
    )

    def fresh() -> list[Any]:
        return [get_agent(PooledCounter, f"act-{uuid.uuid4().hex[:8]}-{i}") for i in range(THROUGHPUT_AGENTS)]

    async def waves(handles: list[Any]) -> None:  # bursts: CONCURRENCY new IDs at once, then the next
        await in_batches([h.get() for h in handles])

    async def steady(handles: list[Any]) -> None:  # CONCURRENCY callers, each on to its next ID at once
        slots = asyncio.Semaphore(CONCURRENCY)

        async def first_call(h: Any) -> None:
            async with slots:
                await h.get()

        await asyncio.gather(*(first_call(h) for h in handles))

    for label, pattern in (("bursts of", waves), ("steady,", steady)):
        handles = fresh()
        start = time.perf_counter()
        await pattern(handles)
        elapsed = time.perf_counter() - start
        table.add(
            f"pooled, {label} {CONCURRENCY} concurrent callers",
            str(len(handles)),
            f"{elapsed:.2f}",
            rate(len(handles) / elapsed),
        )
    return table


async def host_memory() -> tuple[int, int, int, int]:
    """Summed (RSS, USS, open file descriptors, live agents) of the pooled hosts."""
    described = await list_agents()
    loads = await asyncio.gather(
        *(ray.get_actor(n, namespace=NAMESPACE).load.remote() for n in described["hosts"])
    )
    mems = [memory_of(load["pid"]) for load in loads]
    fds = sum(len(os.listdir(f"/proc/{load['pid']}/fd")) for load in loads)
    return (
        sum(m["rss"] for m in mems),
        sum(m["uss"] for m in mems),
        fds,
        sum(load["agents"] for load in loads),
    )


async def bench_memory(sizes: list[int]) -> Table:
    table = Table(
        "3. Pooled hosts' memory by live agents (all hosts summed)",
        ["live agents", "RSS", "USS", "open fds", "USS per agent beyond 1,000"],
    )
    created = 0
    base: tuple[int, int] | None = None
    for n in sizes:
        handles = [get_agent(PooledCounter, f"mem-{i}") for i in range(created, n)]
        await in_batches([h.add(1) for h in handles], 500)
        created = n
        rss, uss, fds, live = await host_memory()
        if base is None:
            base = (uss, live)
            per = ""
        else:
            per = size((uss - base[0]) / max(1, live - base[1]))
        table.add(f"{live:,}", size(rss), size(uss), str(fds), per)
    return table


async def bench_calls() -> Table:
    table = Table(
        "4. Call latency vs raw actor calls (sequential, interleaved)",
        ["call", "p50", "p99", "vs raw p50", "vs raw addressed p50"],
    )
    raw = ray.remote(RawCounter).options(num_cpus=0.001).remote()
    await raw.get.remote()
    pooled, dedicated = get_agent(PooledCounter, "calls"), get_agent(BenchCounter, "calls")
    await pooled.add(0)
    await dedicated.add(0)

    def addressed(method: str, *args: int) -> Any:
        call = pickle.dumps((method, args, {}, uuid.uuid4().hex, ()), protocol=5)
        return raw.invoke_bytes.remote(call)

    runs = await interleaved(
        {
            "raw actor get()": lambda: raw.get.remote(),
            "raw actor get(), addressed (one bytes argument)": lambda: addressed("get"),
            "pooled get() (read)": lambda: pooled.get(),
            "dedicated get() (read)": lambda: dedicated.get(),
            "raw actor add()": lambda: raw.add.remote(1),
            "raw actor add(), addressed": lambda: addressed("add", 1),
            "pooled add() (write, checkpointed)": lambda: pooled.add(1),
            "dedicated add() (write, checkpointed)": lambda: dedicated.add(1),
        },
        summary=False,
    )
    s = {name: summarize(samples) for name, samples in runs.items()}
    for name, summary in s.items():
        write = "add" in name
        bare, addressed_raw = (
            (s["raw actor add()"], s["raw actor add(), addressed"])
            if write
            else (s["raw actor get()"], s["raw actor get(), addressed (one bytes argument)"])
        )
        table.add(
            name,
            ms(summary.p50),
            ms(summary.p99),
            ratio(summary.p50, bare.p50),
            ratio(summary.p50, addressed_raw.p50),
        )
    return table


async def main(args: argparse.Namespace) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="ray-agents-density-"))
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, Ray {ray.__version__}"
    )
    if args.max_agents:  # room for all of them on this node's two hosts (the default caps a host at 20k)
        os.environ["RAY_AGENTS_MAX_AGENTS_PER_HOST"] = str(args.max_agents // 2 + 1000)
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, namespace=NAMESPACE)
    configure(namespace=NAMESPACE, store=f"file://{tmp / 'store'}")
    try:
        sizes = sorted({1000, args.agents, *([args.max_agents] if args.max_agents else [])})
        sections = {
            "wakes": bench_wakes,
            "activations": bench_activations,
            "calls": bench_calls,
            "memory": lambda: bench_memory(sizes),
        }
        for name in args.only.split(",") if args.only else sections:
            print((await sections[name]()).text(), flush=True)
    finally:
        ray.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--agents", type=int, default=10_000, help="live pooled agents for the memory figure")
    parser.add_argument("--max-agents", type=int, default=0, help="also measure this many (e.g. 100000)")
    parser.add_argument("--only", default="", help="comma-separated sections: wakes,activations,calls,memory")
    asyncio.run(main(parser.parse_args()))
