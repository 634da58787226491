"""Agents the inspector tests look into (importable by Serve replicas and hosts)."""

from __future__ import annotations

from agents import Agent, callable
from agents.connections import Connection
from agents.requests import Request
from agents.scheduling import RetryPolicy

#: A retry so far off that a failed queue item waits there for the whole test.
LATER = RetryPolicy(initial_delay=3600, max_delay=3600, jitter=0)


class Workbench(Agent):
    """Something in every panel of the inspector: state, a SQL table, a schedule, a queue whose
    head waits to retry (and one item behind it), and the connections its clients open."""

    initial_state = {"count": 0, "label": "new"}

    @callable
    async def setup(self) -> None:
        """Fill the notes table and plan a reminder and two deliveries."""
        self.sql("CREATE TABLE IF NOT EXISTS notes(id INTEGER PRIMARY KEY, text TEXT NOT NULL, stars REAL)")
        self.sql("INSERT INTO notes(text, stars) VALUES (?, ?), (?, ?)", "first", 4.5, "second", 3)
        await self.schedule(3600, "remind", {"about": "notes"})
        await self.queue("deliver", {"to": "ops"}, retry=LATER)
        await self.queue("deliver", {"to": "dev"}, retry=LATER)

    @callable
    def add(self, n: int = 1, label: str = "") -> int:
        """Add `n` to the count (and rename it, given a label)."""
        self.set_state({"count": self.state["count"] + n, "label": label or self.state["label"]})
        return self.state["count"]

    @callable(readonly=True)
    def notes(self) -> list[str]:
        return [row["text"] for row in self.sql("SELECT text FROM notes ORDER BY id")]

    async def on_connect(self, conn: Connection, request: Request) -> None:
        conn.state = {"name": request.query.get("name", "guest")}

    def remind(self, payload: dict) -> None:
        self.set_state({**self.state, "reminded": payload["about"]})

    def deliver(self, payload: dict) -> None:
        raise ConnectionError(f"the webhook of {payload['to']} is down")


class PooledBench(Workbench):
    """A Workbench on a pooled host (many agents in one host actor)."""

    hosting = "pooled"


class Quiet(Agent):
    """An agent with nothing but a state, to be seen hibernated (once it has a checkpoint)."""

    initial_state = {"touches": 0}
    idle_timeout = 0.5

    @callable
    def touch(self) -> int:
        self.set_state({"touches": self.state["touches"] + 1})
        return self.state["touches"]


INSPECTED = [Workbench, PooledBench, Quiet]
