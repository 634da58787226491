"""Agents that schedule, queue and run durable jobs (importable by Ray workers)."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path

from agents import Agent, callable
from agents.scheduling import RetryPolicy

FAST_RETRY = RetryPolicy(max_attempts=4, initial_delay=0.1, max_delay=0.3, jitter=0.1)


class Planner(Agent):
    initial_state = {"runs": []}
    schedule_retry = FAST_RETRY

    def record(self, label: str) -> None:
        self.set_state({"runs": [*self.state["runs"], label]})

    def flaky(self, payload: dict) -> None:
        if time.time() < payload["fail_until"]:
            raise RuntimeError("not yet")
        self.record(payload["label"])

    def always_fails(self, payload: object) -> None:
        raise RuntimeError("never works")

    @callable
    async def after(self, seconds: float, label: str) -> str:
        return (await self.schedule(seconds, "record", label)).id

    @callable
    async def at(self, iso: str, label: str) -> str:
        return (await self.schedule(datetime.fromisoformat(iso), "record", label)).id

    @callable
    async def cron(self, expression: str, label: str) -> str:
        return (await self.schedule(expression, "record", label)).id

    @callable
    async def flaky_after(self, seconds: float, fail_for: float, label: str) -> str:
        payload = {"fail_until": time.time() + seconds + fail_for, "label": label}
        return (await self.schedule(seconds, "flaky", payload)).id

    @callable
    async def doomed(self) -> str:
        return (await self.schedule(0, "always_fails", None)).id

    @callable
    async def bad_schedule(self, kind: str) -> None:
        if kind == "cron":
            await self.schedule("61 * * * *", "record", "x")
        elif kind == "zone":
            await self.schedule("CRON_TZ=Mars/Olympus 0 9 * * *", "record", "x")
        elif kind == "naive":
            await self.schedule(datetime(2030, 1, 1), "record", "x")
        elif kind == "method":
            await self.schedule(1, "no_such_method", "x")
        elif kind == "payload":
            await self.schedule(1, "record", object())
        elif kind == "negative":
            await self.schedule(-1, "record", "x")
        elif kind == "interval":
            await self.schedule_every(0, "record", "x")

    @callable
    async def cancel(self, schedule_id: str) -> bool:
        return await self.cancel_schedule(schedule_id)

    @callable
    async def schedules(self) -> list[dict]:
        return [
            {"id": s.id, "kind": s.kind, "method": s.method, "attempts": s.attempts, "status": s.status}
            for s in await self.list_schedules()
        ]

    @callable
    async def record_then_fail(self, label: str) -> None:
        """Due together, one batch: the queued record runs first, then the schedule fails."""
        await self.queue("record", label)
        await self.schedule(0, "always_fails", None)

    @callable
    async def enqueue(self, labels: list[str]) -> list[str]:
        return [await self.queue("record", label) for label in labels]

    @callable
    def runs(self) -> list[str]:
        return self.state["runs"]


class Heartbeat(Agent):
    """Sets up a recurring schedule on every wake; hibernates quickly."""

    initial_state = {"beats": 0}
    idle_timeout = 0.5

    async def on_start(self) -> None:
        await self.schedule_every(30, "beat")

    def beat(self) -> None:
        self.set_state({"beats": self.state["beats"] + 1})

    @callable
    async def info(self) -> dict:
        schedules = await self.list_schedules(kind="interval")
        return {"beats": self.state["beats"], "intervals": len(schedules)}


class Dozer(Agent):
    """Hibernates quickly; its alarms must wake it."""

    initial_state = {"runs": []}
    idle_timeout = 0.5

    def record(self, label: str) -> None:
        self.set_state({"runs": [*self.state["runs"], label]})

    @callable
    async def after(self, seconds: float, label: str) -> str:
        return (await self.schedule(seconds, "record", label)).id

    @callable
    def runs(self) -> list[str]:
        return self.state["runs"]


class Worker(Agent):
    """Runs a three-step durable job from its queue; each step leaves a mark in a file."""

    initial_state = {"recovered": [], "results": []}

    async def on_recover(self, unfinished_jobs: list[str]) -> None:
        self.set_state({**self.state, "recovered": [*self.state["recovered"], *unfinished_jobs]})

    @callable
    async def submit(self, marks: str, slow_step_seconds: float) -> None:
        await self.queue("job", {"marks": marks, "slow": slow_step_seconds})

    async def job(self, payload: dict) -> None:
        marks = Path(payload["marks"])

        async def step(name: str, slow_first_time: bool = False) -> str:
            with marks.open("a") as f:
                f.write(f"{name}\n")
            if slow_first_time and marks.read_text().split().count(name) == 1:
                await asyncio.sleep(payload["slow"])  # long enough to be killed in the middle
            return f"{name}-done"

        async with self.run_durable("order-1") as job:
            a = await job.step("one", step, "one")
            b = await job.step("two", step, "two", True)
            c = await job.step("three", step, "three")
        self.set_state({**self.state, "results": [a, b, c]})

    @callable
    def report(self) -> dict:
        return dict(self.state)


def in_seconds(seconds: float) -> str:
    return datetime.fromtimestamp(time.time() + seconds, UTC).isoformat()
