"""Agents for the pooled-hosting tests (importable by hosts)."""

from __future__ import annotations

import time

from agents import Agent, callable


class Cell(Agent):
    """A small pooled counter that logs every write (to check none is lost or applied twice)."""

    hosting = "pooled"
    initial_state = {"n": 0}

    async def on_start(self) -> None:
        self.sql("CREATE TABLE IF NOT EXISTS log(v INTEGER)")

    @callable
    async def add(self, v: int) -> int:
        self.set_state({"n": self.state["n"] + v})
        self.sql("INSERT INTO log(v) VALUES (?)", v)
        return self.state["n"]

    @callable(readonly=True)
    async def log(self) -> list[int]:
        return [r["v"] for r in self.sql("SELECT v FROM log ORDER BY rowid")]


class Tiny(Agent):
    """At most three of these on one host: the fourth evicts the least recently used idle one."""

    hosting = "pooled"
    max_agents_per_host = 3
    initial_state = {"n": 0}

    @callable
    async def add(self, v: int) -> int:
        self.set_state({"n": self.state["n"] + v})
        return self.state["n"]


class Blocker(Agent):
    """Blocks its host's event loop on request, or sleeps in a sync method (offloaded)."""

    hosting = "pooled"

    @callable
    async def block(self, seconds: float) -> str:
        time.sleep(seconds)  # the mistake the watchdog exists for: blocking in async code
        return "blocked"

    @callable
    def sleep_sync(self, seconds: float) -> str:
        time.sleep(seconds)  # a sync method of a pooled agent runs in a worker thread
        return "slept"

    @callable(readonly=True)
    async def ping(self) -> str:
        return "pong"


class Solo(Agent):
    """Dedicated: a process of its own, next to pooled agents in the same cluster."""

    hosting = "dedicated"

    @callable(readonly=True)
    async def ping(self) -> str:
        return "pong"


class Misnamed(Agent):
    hosting = "serverless"  # type: ignore[assignment]

    @callable
    async def ping(self) -> str:
        return "pong"
