"""Core benchmark: ray-agents against raw Ray actors doing the same work, measured in one run.

    make bench            # or: .venv/bin/python bench/bench_core.py

1. Call latency (sequential, interleaved with the raw calls) and throughput (16 concurrent
   callers), read-only and state-changing; and one turn driven in process, without Ray.
2. Memory per live agent process vs a raw actor (RSS, USS, PSS).
3. Checkpoint cost: small state, one-row turns on an empty vs a 10 MiB SQLite database (time and
   bytes written), and the in-process cost of capturing the pages a one-row write changed.
4. Activation of a new agent vs creating a raw actor, and waking a hibernated agent.

Starts its own local Ray (2 CPUs) with a temporary file store, and removes both at the end.
"""

from __future__ import annotations

import asyncio
import os
import platform
import shutil
import sys
import tempfile
import time
import traceback
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# Ray workers inherit the environment of the raylet that ray.init starts: make `bench` importable.
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import ray  # noqa: E402

import agents  # noqa: E402
from agents import AgentHandle, get_agent, list_agents  # noqa: E402
from bench.agents_under_bench import (  # noqa: E402
    BenchCounter,
    SleepyCounter,
    SleepyLedger,
)
from bench.core_checkpoints import DB_BYTES, NAMESPACE, bench_checkpoints, bench_store  # noqa: E402
from bench.measure import (  # noqa: E402
    CALLERS,
    SEQUENTIAL_CALLS,
    THROUGHPUT_ROUNDS,
    THROUGHPUT_SECONDS,
    compare_throughput,
    interleaved,
    latencies,
    memory_of,
    running,
)
from bench.raw_actors import RawCounter  # noqa: E402
from bench.stats import Report, Summary, Table, ms, percentile, rate, ratio, size, summarize  # noqa: E402
from cluster import routing  # noqa: E402
from cluster.activation import Activation  # noqa: E402
from cluster.checkpoint import Manifest  # noqa: E402
from cluster.naming import agent_key  # noqa: E402
from cluster.stores.local import LocalDirectoryStore  # noqa: E402

# ---- knobs (sized to finish in about two minutes on 2 quiet cores) ----------------------------------------

TARGETS = 8  # agents (or raw actors) the callers spread over in the "N targets" rows
ACTIVATIONS = 12  # new agents (and new raw actors) timed
WAKES = 10  # hibernated small agents woken (half of them with the caller's cached handle dropped first)
BIG_WAKES = 3  # hibernated agents with a 10 MiB database woken


# ---- 1. latency and throughput ----------------------------------------------------------------------


@dataclass
class Fleet:
    """The raw actors and agents of the call benchmarks, kept live for the memory figures."""

    raws: list[Any]
    handles: list[AgentHandle[BenchCounter]]


async def bench_calls(report: Report, tmp: Path, fleets: list[Fleet]) -> None:
    raw_actor = ray.remote(RawCounter).options(num_cpus=0.001)
    raws = []
    for i in range(TARGETS):
        (tmp / f"raw-{i}").mkdir()
        raws.append(raw_actor.remote(str(tmp / f"raw-{i}")))
    handles = [get_agent(BenchCounter, f"counter-{i}") for i in range(TARGETS)]
    await asyncio.gather(*(r.pid.remote() for r in raws), *(h.get() for h in handles))
    fleets.append(Fleet(raws, handles))
    raw, agent = raws[0], handles[0]

    def shaped_call() -> tuple:
        return ("get", (), {}, uuid.uuid4().hex, ())

    reads = await interleaved(
        {
            "raw actor get()": lambda: raw.get.remote(),
            "raw actor invoke('get', ...)  agent call shape, 5 args": lambda: raw.invoke.remote(
                *shaped_call()
            ),
            "raw actor invoke_packed(...)  same, packed in 1 arg": lambda: raw.invoke_packed.remote(
                shaped_call()
            ),
            "agent get()  read-only, no checkpoint": lambda: agent.get(),
        }
    )
    writes = await interleaved(
        {
            "raw actor add()  in memory": lambda: raw.add.remote(1),
            "raw actor add_durable()  write+fsync+rename+fsync dir": lambda: raw.add_durable.remote(1),
            "agent add()  checkpoint to the file store": lambda: agent.add(1),
        }
    )
    seq = Table(
        f"1a. Sequential call latency (1 caller, {SEQUENTIAL_CALLS} calls each, sampled interleaved)",
        ["call", "p50", "p99", "mean", "vs raw get()/add() (p50)"],
    )
    for group in (reads, writes):
        baseline = next(iter(group.values()))
        for label, stats in group.items():
            vs = "" if stats is baseline else ratio(stats.p50, baseline.p50)
            seq.add(label, ms(stats.p50), ms(stats.p99), ms(stats.mean), vs)
    report.add(seq)
    read_raw, shaped, packed, read_agent = reads.values()
    write_raw, write_durable, write_agent = writes.values()
    report.read_p50 = {"raw": read_raw.p50, "shaped": shaped.p50, "agent": read_agent.p50}
    report.headline["read call p50 (agent / raw)"] = (
        f"{ms(read_agent.p50)} / {ms(read_raw.p50)} = {ratio(read_agent.p50, read_raw.p50)}"
    )
    report.headline["write call p50 (agent / raw in memory / raw write+fsync)"] = (
        f"{ms(write_agent.p50)} / {ms(write_raw.p50)} / {ms(write_durable.p50)}"
    )
    if shaped.p50 > 1.2 * packed.p50:
        report.notes.append(
            f"Ray charges per argument: the agent call's five arguments cost {ms(shaped.p50)} p50 against "
            f"{ms(packed.p50)} packed into one ({ms(read_raw.p50)} with none)."
        )

    conc = Table(
        f"1b. Throughput, {CALLERS} concurrent callers from one driver "
        f"(mean of {THROUGHPUT_ROUNDS} alternating rounds of {THROUGHPUT_SECONDS:.1f} s)",
        [
            "workload",
            "raw actor",
            "raw (fsync)",
            "agent",
            "agent/raw",
            "driver CPU",
            "driver CPU/call raw/agent",
        ],
    )
    for label, n in (("1 actor / agent", 1), (f"{TARGETS} actors / agents", TARGETS)):
        got = await compare_throughput(
            {
                "raw": [lambda a=a: a.get.remote() for a in raws[:n]],
                "agent": [lambda h=h: h.get() for h in handles[:n]],
            }
        )
        r, a = got["raw"], got["agent"]
        conc.add(
            f"read, {label}",
            rate(r.calls_per_second),
            "",
            rate(a.calls_per_second),
            ratio(a.calls_per_second, r.calls_per_second),
            f"{r.driver_cpu:.0%} / {a.driver_cpu:.0%}",
            f"{ms(r.driver_cpu_per_call)} / {ms(a.driver_cpu_per_call)}",
        )
        report.headline[f"read throughput, {label} (agent / raw)"] = (
            f"{rate(a.calls_per_second)} / {rate(r.calls_per_second)}"
        )
    for label, n in (("1 actor / agent", 1), (f"{TARGETS} actors / agents", TARGETS)):
        got = await compare_throughput(
            {
                "raw": [lambda a=a: a.add.remote(1) for a in raws[:n]],
                "durable": [lambda a=a: a.add_durable.remote(1) for a in raws[:n]],
                "agent": [lambda h=h: h.add(1) for h in handles[:n]],
            }
        )
        r, d, a = got["raw"], got["durable"], got["agent"]
        conc.add(
            f"write, {label}",
            rate(r.calls_per_second),
            rate(d.calls_per_second),
            rate(a.calls_per_second),
            f"{ratio(a.calls_per_second, r.calls_per_second)} / "
            f"{ratio(a.calls_per_second, d.calls_per_second)} fsync",
            f"{r.driver_cpu:.0%} / {a.driver_cpu:.0%}",
            f"{ms(r.driver_cpu_per_call)} / {ms(a.driver_cpu_per_call)}",
        )
        report.headline[f"write throughput, {label} (agent / raw fsync)"] = (
            f"{rate(a.calls_per_second)} / {rate(d.calls_per_second)}"
        )
    report.add(conc)

    # The manifest every state-changing turn rewrites (after > dedupe_window writes).
    store = bench_store(tmp)
    manifest_bytes = (store._dir(agent_key("bench-counter", "counter-0")) / "manifest").read_bytes()
    manifest = Manifest.unpack(manifest_bytes)
    without_results = len(Manifest(manifest.epoch, manifest.state, sections=manifest.sections).pack())
    report.notes.append(
        f"Every state-changing turn rewrites the whole manifest: {size(len(manifest_bytes))} for a "
        f"{len(manifest.state)}-byte state, of which {size(len(manifest_bytes) - without_results)} is the "
        f"dedupe table ({len(manifest.results)} packed results, written again by each checkpoint)."
    )


# ---- 1c. turns in process ---------------------------------------------------------------------------


async def bench_turns_in_process(report: Report, tmp: Path) -> None:
    """An `Activation` driven directly (no Ray): what the runtime itself adds per turn."""
    stores = {"disk, fsync": tmp / "inproc-disk"}
    if Path("/dev/shm").is_dir():
        stores["tmpfs (fsync is free)"] = Path(tempfile.mkdtemp(prefix="ray-agents-bench-", dir="/dev/shm"))
    table = Table(
        f"1c. One turn inside the agent process, no Ray ({SEQUENTIAL_CALLS} turns each)",
        ["turn", "p50", "p99", "mean"],
    )
    read: Summary | None = None
    try:
        for label, root in stores.items():
            store = LocalDirectoryStore(root)
            key = agent_key("bench-counter", "in-process")
            activation = Activation(BenchCounter, "in-process", store.bump_epoch(key), store)
            await activation.start()
            if read is None:
                read = summarize(
                    await latencies(lambda a=activation: a.invoke("get", (), {}, uuid.uuid4().hex))
                )
                table.add("read-only get()", ms(read.p50), ms(read.p99), ms(read.mean))
            write = summarize(
                await latencies(lambda a=activation: a.invoke("add", (1,), {}, uuid.uuid4().hex))
            )
            table.add(
                f"add(): checkpoint to a store on {label}", ms(write.p50), ms(write.p99), ms(write.mean)
            )
            await activation.close()
    finally:
        for root in stores.values():
            shutil.rmtree(root, ignore_errors=True)
    report.add(table)
    if read is not None and report.read_p50:
        p = report.read_p50
        report.notes.append(
            f"Where an agent read call's p50 goes ({ms(p['agent'])}): a raw actor call {ms(p['raw'])}; "
            f"Ray carrying the agent call's shape +{ms(p['shaped'] - p['raw'])}; the turn itself "
            f"(lock, argument validation, SQLite BEGIN/COMMIT, state encode+compare) {ms(read.p50)}; "
            f"the rest (router, handle, AgentHost, outcome envelope) "
            f"{ms(p['agent'] - p['shaped'] - read.p50)}."
        )


# ---- 2. memory ---------------------------------------------------------------------------------------


async def bench_memory(report: Report, fleet: Fleet) -> None:
    """Memory of the processes the call benchmarks used (live and warm); then stop the raw actors."""
    agent_pids = [(await h.describe())["pid"] for h in fleet.handles]
    raw_pids = await asyncio.gather(*(r.pid.remote() for r in fleet.raws))
    agent_mem = [memory_of(p) for p in agent_pids]
    raw_mem = [memory_of(p) for p in raw_pids]
    for r in fleet.raws:
        ray.kill(r)

    def median(rows: list[dict[str, int]], key: str) -> float:
        values = [r[key] for r in rows if key in r]
        return percentile(values, 50) if values else float("nan")

    table = Table(
        f"2. Memory per live process (median of {len(agent_pids)}, after the calls above)",
        ["process", "RSS", "USS (private)", "PSS", "agent - raw (USS)"],
    )
    for label, rows in (("raw Ray actor", raw_mem), ("agent actor (AgentHost)", agent_mem)):
        table.add(
            label,
            size(median(rows, "rss")),
            size(median(rows, "uss")),
            size(median(rows, "pss")),
            "" if rows is raw_mem else size(median(agent_mem, "uss") - median(raw_mem, "uss")),
        )
    report.add(table)
    report.headline["memory per live agent, USS (agent / raw)"] = (
        f"{size(median(agent_mem, 'uss'))} / {size(median(raw_mem, 'uss'))}"
    )


# ---- 4. activation and wake --------------------------------------------------------------------------


async def wait_hibernated(
    keys: dict[str, int], since: dict[str, float] | float, timeout: float = 60
) -> list[float]:
    """Poll until each agent key (-> pid) is no longer live and its process has exited. Returns, per
    key, seconds from `since` (per key, or one time for all) until the controller stopped listing it."""
    released: dict[str, float] = {}
    deadline = time.monotonic() + timeout
    while len(released) < len(keys) or any(running(pid) for pid in keys.values()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"agents did not hibernate within {timeout} s: {sorted(keys)}")
        live = (await list_agents())["live"]
        for key in keys:
            if key not in live and key not in released:
                released[key] = time.perf_counter() - (since[key] if isinstance(since, dict) else since)
        await asyncio.sleep(0.05)
    hibernated = {f"{cls}/{agent_id}" for cls, agent_id in (await list_agents())["hibernated"]}
    missing = [k for k in keys if k not in hibernated]
    assert not missing, f"released but not listed as hibernated: {missing}"
    return list(released.values())


async def bench_activation(report: Report) -> None:
    # New raw actors and new agents alternate, so both see the same background load.
    raw_actor = ray.remote(RawCounter).options(num_cpus=0.001)
    raw_samples, raw_actors, first, second = [], [], [], []
    for i in range(ACTIVATIONS):
        start = time.perf_counter()
        actor = raw_actor.remote()
        await actor.get.remote()
        raw_samples.append(time.perf_counter() - start)
        raw_actors.append(actor)

        handle = get_agent(BenchCounter, f"fresh-{i}")
        start = time.perf_counter()
        await handle.get()
        first.append(time.perf_counter() - start)
        start = time.perf_counter()
        await handle.get()
        second.append(time.perf_counter() - start)
    for actor in raw_actors:
        ray.kill(actor)

    # Small agents: activate, let them all hibernate, then wake each in turn.
    sleepy = [get_agent(SleepyCounter, f"sleepy-{i}") for i in range(WAKES)]

    async def add_one(handle: AgentHandle[SleepyCounter]) -> float:
        await handle.add(1)
        return time.perf_counter()

    last_call = await asyncio.gather(*(add_one(h) for h in sleepy))
    infos = await asyncio.gather(*(h.describe() for h in sleepy))
    released = await wait_hibernated(
        {i["key"]: i["pid"] for i in infos}, {i["key"]: t for i, t in zip(infos, last_call, strict=True)}
    )
    wake, wake_uncached = [], []
    for i, handle in enumerate(sleepy):
        if i % 2:  # no stale cached actor: straight to the controller
            routing.router().forget(SleepyCounter, handle.id)
        start = time.perf_counter()
        count = await handle.get()
        (wake_uncached if i % 2 else wake).append(time.perf_counter() - start)
        assert count == 1, f"{handle} woke with count {count}, expected 1"
        info = await handle.describe()
        # Back to sleep before the next wake, so no process is being torn down while one starts.
        await wait_hibernated({info["key"]: info["pid"]}, time.perf_counter())

    # One agent with a 10 MiB database, woken BIG_WAKES times.
    big = get_agent(SleepyLedger, "sleepy-ledger")
    db_size = await big.fill(DB_BYTES)
    big_wake = []
    for _ in range(BIG_WAKES):
        info = await big.describe()
        await wait_hibernated({info["key"]: info["pid"]}, time.perf_counter())
        start = time.perf_counter()
        assert await big.size() == db_size
        big_wake.append(time.perf_counter() - start)

    raw, new = summarize(raw_samples), summarize(first)
    woke, woke_uncached, big_woke = summarize(wake), summarize(wake_uncached), summarize(big_wake)
    table = Table(
        "4. Activation and wake (first call, sequential; a new process each time)",
        ["what", "n", "p50", "p99", "max", "vs new raw actor (p50)"],
    )
    rows: list[tuple[str, Summary, bool]] = [
        ("raw actor: create + first call", raw, False),
        ("agent: first call to a new ID", new, True),
        ("agent: second call (for contrast)", summarize(second), False),
        ("agent: wake a hibernated agent (small state)", woke, True),
        ("  same, caller's cached (dead) actor handle dropped first", woke_uncached, True),
        (f"agent: wake with a {size(db_size)} database", big_woke, True),
        (
            f"idle agent released after its last call (idle_timeout {SleepyCounter.idle_timeout} s)",
            summarize(released),
            False,
        ),
    ]
    for label, stats, compare in rows:
        vs = ratio(stats.p50, raw.p50) if compare else ""
        table.add(label, stats.n, ms(stats.p50), ms(stats.p99), ms(stats.max), vs)
    report.add(table)
    report.headline["activation p50 / p99 (agent); raw actor p50"] = (
        f"{ms(new.p50)} / {ms(new.p99)}; {ms(raw.p50)}"
    )
    report.headline["wake p50 (small / 10 MiB DB)"] = f"{ms(woke.p50)} / {ms(big_woke.p50)}"


# ---- main --------------------------------------------------------------------------------------------


def machine() -> str:
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"{os.cpu_count()} CPUs, Linux {platform.release()}, Python {platform.python_version()}, "
        f"Ray {ray.__version__}; load average {load}"
    )


def markdown(report: Report, started: str, context: str) -> str:
    lines = [
        "## Performance",
        "",
        f"Measured with `make bench` (`.venv/bin/python bench/bench_core.py`) on {started}: {context}. "
        "One local Ray runtime, a local-directory checkpoint store with fsync; every figure is "
        "measured in the same run as its raw-Ray baseline.",
        "",
        "| figure | value |",
        "|:---|---:|",
        *(f"| {k} | {v} |" for k, v in report.headline.items()),
        "",
    ]
    for table in report.tables:
        lines += [table.markdown(), ""]
    return "\n".join(lines)


async def run(report: Report, tmp: Path) -> None:
    fleets: list[Fleet] = []
    sections: list[tuple[str, Callable[[], Awaitable[None]]]] = [
        ("calls", lambda: bench_calls(report, tmp, fleets)),
        # In a task of its own: a turn sets the call-chain context variable of the task it runs in.
        ("turns in process", lambda: asyncio.create_task(bench_turns_in_process(report, tmp))),
        ("memory", lambda: bench_memory(report, fleets[0])),
        ("checkpoints", lambda: bench_checkpoints(report, tmp)),
        ("activation and wake", lambda: bench_activation(report)),
    ]
    for name, section in sections:
        try:
            await section()
        except Exception:  # report it and go on: the other sections still measure something
            print(f"Section '{name}' FAILED:\n{traceback.format_exc()}", flush=True)
            report.notes.append(f"Section '{name}' failed (traceback above); its figures are missing.")


def main() -> None:
    began = time.perf_counter()
    started = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    context = machine()
    print(f"ray-agents core benchmark, {started}\n{context}", flush=True)
    if os.getloadavg()[0] > (os.cpu_count() or 1):
        print("WARNING: the machine is busy (load above its CPU count): figures are inflated.", flush=True)
    print(flush=True)
    tmp = Path(tempfile.mkdtemp(prefix="ray-agents-bench-"))
    report = Report()
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        agents.configure(namespace=NAMESPACE, store=f"file://{tmp / 'store'}")
        asyncio.run(run(report, tmp))
    finally:
        ray.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)

    print("Notes")
    for note in report.notes:
        print(f"- {note}")
    print(f"\nLoad average at the end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"Total run time {time.perf_counter() - began:.0f} s\n")
    print("Markdown for the README:\n")
    print(markdown(report, started, context))


if __name__ == "__main__":
    main()
