"""Alarm dispatch lateness: many schedules over many agents, most of them hibernated.

    .venv/bin/python bench/bench_alarms.py [--agents 200] [--per-agent 50] [--window 60] [--hosting pooled]

Each agent gets `per-agent` one-shot schedules due within one second of its own due time; due
times are spread over `window` seconds, and agents hibernate 1 s after their last call, so when
an agent's alarms come due it is usually hibernated and the controller must wake it. Every run
appends (due, actual) to a side file; the figures are actual minus due: for the first run of each
agent (a wake from hibernation) and for the rest (the agent is live by then).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pathlib
import sys
import tempfile
import time
from datetime import UTC, datetime

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

import ray  # noqa: E402

from agents import Agent, callable, configure, get_agent, list_agents  # noqa: E402
from bench.stats import Table, ms, summarize  # noqa: E402


class AlarmBench(Agent):
    """Schedules a batch of alarms, then hibernates quickly."""

    idle_timeout = 1.0

    @callable
    async def plan(self, dues: list[float], log_path: str) -> int:
        for due in dues:
            when = datetime.fromtimestamp(due, UTC)
            await self.schedule(when, "fire", {"due": due, "log": log_path})
        return len(dues)

    def fire(self, payload: dict) -> None:
        with open(payload["log"], "a") as log:
            log.write(f"{self.name} {payload['due']!r} {time.time()!r}\n")


async def run(
    agents: int, per_agent: int, window: float, log_path: str, hosting: str
) -> list[tuple[str, float, float]]:
    # Seconds to plan every agent before the first alarm: a dedicated agent starts a process.
    setup_budget = 10 + (0.6 if hosting == "dedicated" else 0.02) * agents
    start = time.time() + setup_budget
    semaphore = asyncio.Semaphore(8 if hosting == "dedicated" else 64)

    async def plan(i: int) -> None:
        base = start + window * i / agents
        dues = [base + j / per_agent for j in range(per_agent)]
        async with semaphore:
            await get_agent(AlarmBench, f"alarm-{i}").plan(dues, log_path)

    t0 = time.perf_counter()
    await asyncio.gather(*(plan(i) for i in range(agents)))
    print(f"planned {agents * per_agent:,} schedules on {agents} agents in {time.perf_counter() - t0:.1f} s")
    if time.time() > start:
        print("warning: planning overran the setup budget; early alarms are late by construction")
    expected = agents * per_agent
    deadline = start + window + 120
    while time.time() < deadline:
        done = sum(1 for _ in open(log_path)) if os.path.exists(log_path) else 0
        live = len((await list_agents())["live"])
        print(f"\r{done:,}/{expected:,} runs, {live} agents live   ", end="", flush=True)
        if done >= expected:
            break
        await asyncio.sleep(1)
    print()
    rows = []
    for line in open(log_path):
        name, due, actual = line.split()
        rows.append((name, float(due), float(actual)))
    return rows


def report(rows: list[tuple[str, float, float]], expected: int) -> None:
    first_due: dict[str, float] = {}
    for name, due, _ in rows:
        first_due[name] = min(due, first_due.get(name, due))
    wake = [actual - due for name, due, actual in rows if due == first_due[name]]
    live = [actual - due for name, due, actual in rows if due != first_due[name]]
    table = Table("Alarm lateness (actual - due)", ["runs", "n", "p50", "p99", "max"])
    for label, values in [
        ("first run per agent (wake)", wake),
        ("later runs (live)", live),
        ("all", wake + live),
    ]:
        s = summarize(values)
        table.add(label, s.n, ms(s.p50), ms(s.p99), ms(s.max))
    print(table.text())
    print(
        f"runs: {len(rows):,} of {expected:,} (duplicates: {len(rows) - len({(n, d) for n, d, _ in rows})})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=200)
    parser.add_argument("--per-agent", type=int, default=50)
    parser.add_argument("--window", type=float, default=60.0)
    parser.add_argument("--hosting", choices=["dedicated", "pooled"], default="dedicated")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
        configure(namespace="bench-alarms", store=f"file://{tmp}/store", hosting=args.hosting)
        try:
            rows = asyncio.run(run(args.agents, args.per_agent, args.window, f"{tmp}/runs.log", args.hosting))
        finally:
            ray.shutdown()
    report(rows, args.agents * args.per_agent)


if __name__ == "__main__":
    main()
