"""Agent classes the benchmark exercises.

A module of its own so Ray worker processes import it by name (`bench.agents_under_bench`), with
the repository root on PYTHONPATH. `bench.raw_actors` holds the raw-Ray twins (kept apart so raw
actor processes do not import ray-agents).
"""

from __future__ import annotations

import os

from agents import Agent, callable

#: Bytes of random data per row when filling a database (SQLite pages hold ~4 of these).
FILL_ROW_BYTES = 1000

FILL_SQL = """
WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < ?)
INSERT INTO rows(body) SELECT randomblob(?) FROM seq
"""


class BenchCounter(Agent):
    """A counter held in agent state: `get` reads (no checkpoint), `add` writes (checkpoint)."""

    initial_state = {"count": 0}

    @callable(readonly=True)
    async def get(self) -> int:
        return self.state["count"]

    @callable
    async def add(self, n: int) -> int:
        self.set_state({"count": self.state["count"] + n})
        return self.state["count"]


class McpCounter(Agent):
    """A counter whose `add` is an MCP tool too: the same method over MCP and HTTP RPC."""

    initial_state = {"count": 0}

    @callable(mcp=True)
    async def add(self, n: int) -> int:
        """Add n to the count."""
        self.set_state({"count": self.state["count"] + n})
        return self.state["count"]


class SleepyCounter(BenchCounter):
    """Hibernates (checkpoint, release its actor) after half a second without calls."""

    idle_timeout = 0.5


class PooledCounter(BenchCounter):
    """The same counter, many to a host actor (pooled hosting); live for the whole run, so the
    memory figures count every agent created."""

    hosting = "pooled"
    idle_timeout = 3600.0


class PooledSleepyCounter(PooledCounter):
    idle_timeout = 0.5


class Ledger(Agent):
    """Rows in the agent's SQLite database: fill it to a size, then time one-row turns."""

    async def on_start(self) -> None:
        self.sql("CREATE TABLE IF NOT EXISTS rows(id INTEGER PRIMARY KEY, body BLOB NOT NULL)")

    @callable
    async def fill(self, n_bytes: int) -> int:
        """Insert random rows until the database holds about `n_bytes`; return its size."""
        self.sql(FILL_SQL, max(1, n_bytes // FILL_ROW_BYTES), FILL_ROW_BYTES)
        return self._size()

    @callable
    async def insert(self, text: str) -> int:
        self.sql("INSERT INTO rows(body) VALUES (?)", text.encode())
        return self.sql("SELECT last_insert_rowid() AS id")[0]["id"]

    @callable(readonly=True)
    async def size(self) -> int:
        return self._size()

    def _size(self) -> int:
        row = self.sql("SELECT page_count * page_size AS n FROM pragma_page_count, pragma_page_size")[0]
        return row["n"]


class SleepyLedger(Ledger):
    """A ledger that hibernates quickly, to time waking an agent with a large database."""

    idle_timeout = 0.5


class QuietCounter(BenchCounter):
    """BenchCounter in a host process of its own with telemetry off: no event feed, no metrics,
    nobody subscribed (events then cost one dictionary lookup)."""

    hosting = "dedicated"

    async def on_start(self) -> None:
        from cluster import telemetry

        telemetry.uninstall()


class TelemetryCounter(BenchCounter):
    """BenchCounter in a host process of its own as deployed: event feed and metrics on."""

    hosting = "dedicated"


class WatchedCounter(BenchCounter):
    """BenchCounter in a host process of its own as deployed, whose every event also goes to a
    JSON-lines sink."""

    hosting = "dedicated"

    async def on_start(self) -> None:
        from agents import events

        events.subscribe(events.JsonLinesSink(os.devnull))
