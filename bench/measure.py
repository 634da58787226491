"""Measuring primitives for benchmark scripts: interleaved latencies, concurrent throughput, and
what a process uses (memory, I/O) or a store directory holds."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.stats import summarize

Call = Callable[[], Awaitable[Any]]

SEQUENTIAL_CALLS = 300  # per latency row, after WARMUP_CALLS
WARMUP_CALLS = 30
CALLERS = 16  # concurrent callers in the throughput rows
THROUGHPUT_SECONDS = 1.0
THROUGHPUT_ROUNDS = 2


async def latencies(call: Call, n: int = SEQUENTIAL_CALLS, warmup: int = WARMUP_CALLS) -> list[float]:
    """Seconds per call, one call at a time."""
    return (await interleaved({"call": call}, n, warmup, summary=False))["call"]


async def interleaved(
    calls: dict[str, Call], n: int = SEQUENTIAL_CALLS, warmup: int = WARMUP_CALLS, summary: bool = True
) -> dict[str, Any]:
    """Latency of each call, one call at a time, sampled in rounds (each call once per round, in
    rotating order) so that load drifting during the run weighs on every call alike."""
    names = list(calls)
    for _ in range(warmup):
        for name in names:
            await calls[name]()
    samples: dict[str, list[float]] = {name: [] for name in names}
    for i in range(n):
        shift = i % len(names)
        for name in names[shift:] + names[:shift]:
            start = time.perf_counter()
            await calls[name]()
            samples[name].append(time.perf_counter() - start)
    return {name: summarize(v) if summary else v for name, v in samples.items()}


@dataclass(frozen=True)
class Throughput:
    calls_per_second: float
    driver_cpu: float  # share of one core the driver process used (>= ~0.9: the driver is the limit)

    @property
    def driver_cpu_per_call(self) -> float:
        """CPU seconds the calling process spent per completed call."""
        return self.driver_cpu / self.calls_per_second if self.calls_per_second else float("nan")


async def throughput(targets: Sequence[Call], callers: int = CALLERS) -> Throughput:
    """Completed calls per second with `callers` concurrent loops spread over `targets`."""
    warmup = 0.3
    window_start = time.perf_counter() + warmup
    window_end = window_start + THROUGHPUT_SECONDS
    completed = 0
    cpu_mark: tuple[float, float] | None = None  # (wall, cpu) at the first call in the window

    async def caller(i: int) -> None:
        nonlocal completed, cpu_mark
        call = targets[i % len(targets)]
        while time.perf_counter() < window_end:
            await call()
            now = time.perf_counter()
            if window_start <= now <= window_end:
                if cpu_mark is None:
                    cpu_mark = (now, time.process_time())
                completed += 1

    await asyncio.gather(*(caller(i) for i in range(callers)))
    wall, cpu = cpu_mark or (window_start, time.process_time())
    driver_cpu = (time.process_time() - cpu) / (time.perf_counter() - wall)
    return Throughput(completed / THROUGHPUT_SECONDS, driver_cpu)


async def compare_throughput(configs: dict[str, Sequence[Call]]) -> dict[str, Throughput]:
    """Throughput of each configuration, mean of THROUGHPUT_ROUNDS rounds that alternate them."""
    runs: dict[str, list[Throughput]] = {name: [] for name in configs}
    for _ in range(THROUGHPUT_ROUNDS):
        for name, targets in configs.items():
            runs[name].append(await throughput(targets))
    return {
        name: Throughput(
            statistics.fmean(r.calls_per_second for r in results),
            statistics.fmean(r.driver_cpu for r in results),
        )
        for name, results in runs.items()
    }


def running(pid: int) -> bool:
    """Whether a process exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state not in ("Z", "X")


def memory_of(pid: int) -> dict[str, int]:
    """RSS from /proc/<pid>/status; USS (Private_*) and PSS from smaps_rollup, in bytes."""
    found: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            found["rss"] = int(line.split()[1]) * 1024
    try:
        rollup = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()
    except (FileNotFoundError, PermissionError):
        return found
    fields = {line.split(":")[0]: int(line.split()[1]) * 1024 for line in rollup[1:] if ":" in line}
    found["uss"] = fields.get("Private_Clean", 0) + fields.get("Private_Dirty", 0)
    found["pss"] = fields.get("Pss", 0)
    return found


def io_of(pid: int) -> dict[str, int]:
    """/proc/<pid>/io counters: rchar/wchar (all read/write syscalls), read_bytes/write_bytes (storage)."""
    lines = Path(f"/proc/{pid}/io").read_text().splitlines()
    return {k: int(v) for k, v in (line.split(": ") for line in lines)}


def store_files(directory: Path) -> dict[str, int]:
    """Size of each chunk and of the manifest in one agent's store directory."""
    files = {f"chunks/{p.name}": p.stat().st_size for p in (directory / "chunks").iterdir()}
    manifest = directory / "manifest"
    if manifest.exists():
        files["manifest"] = manifest.stat().st_size
    return files


def written_between(before: dict[str, int], after: dict[str, int]) -> tuple[int, int, int]:
    """(new chunk bytes, new chunk count, manifest bytes) one checkpoint wrote."""
    new = [name for name in after if name.startswith("chunks/") and name not in before]
    return sum(after[n] for n in new), len(new), after.get("manifest", 0)
