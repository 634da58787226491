"""Schedules, the work queue and durable jobs as an agent sees them: plain data types.

Everything runs inside the agent's turns and is stored in its own SQLite database, so creating a
schedule is atomic with the turn that created it, and it is checkpointed with the rest of the
agent. The engine behind them is `cluster.scheduler`.

Semantics: at-least-once. A scheduled or queued run is a turn of its own; its bookkeeping (delete
a one-shot schedule, pop a queue item, compute the next cron tick) commits in that same turn, so
a crash before the commit runs it again after recovery. A failing run is retried with exponential
backoff and jitter (`RetryPolicy`); a one-shot schedule is deleted only after a run succeeded. A
run missed while the cluster was down runs once on recovery; cron computes its next tick from
now and never replays every missed tick.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from agents.errors import InvalidScheduleError

__all__ = ["InvalidScheduleError", "Kind", "QueueItem", "RetryPolicy", "Schedule", "Scheduling"]

Kind = Literal["delayed", "scheduled", "cron", "interval"]


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter between attempts of a failing run."""

    #: Attempts in all (the first run included) before a run is given up.
    max_attempts: int = 5
    #: Delay before the second attempt, in seconds.
    initial_delay: float = 1.0
    #: Cap on any one delay.
    max_delay: float = 300.0
    multiplier: float = 2.0
    #: Each delay is scaled by a random factor in [1 - jitter, 1 + jitter].
    jitter: float = 0.2

    def delay(self, attempt: int) -> float:
        """Seconds to wait after the `attempt`-th failure (1-based)."""
        base = min(self.max_delay, self.initial_delay * self.multiplier ** (attempt - 1))
        return base * random.uniform(1 - self.jitter, 1 + self.jitter)


@dataclass(frozen=True)
class Schedule:
    """A stored schedule, as `schedule()` and `list_schedules()` return it."""

    id: str
    method: str
    payload: Any
    kind: Kind
    next_run: float
    cron: str | None = None
    interval: float | None = None
    attempts: int = 0
    status: Literal["pending", "failed"] = "pending"
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    @property
    def next_run_at(self) -> datetime:
        return datetime.fromtimestamp(self.next_run, UTC)


@dataclass(frozen=True)
class QueueItem:
    """A queued call, as `queue()` created it."""

    id: str
    method: str
    payload: Any
    attempts: int
    next_try: float
    status: Literal["pending", "failed"] = "pending"
    retry: RetryPolicy = field(default_factory=RetryPolicy)


class Scheduling(Protocol):
    """What an agent asks of the scheduling engine that runs it (`cluster.scheduler.Scheduler`)."""

    def add(
        self, when: float | datetime | str, method: str, payload: Any, retry: RetryPolicy
    ) -> Schedule: ...
    def add_every(self, seconds: float, method: str, payload: Any, retry: RetryPolicy) -> Schedule: ...
    def cancel(self, schedule_id: str) -> bool: ...
    def get(self, schedule_id: str) -> Schedule | None: ...
    def list(self, method: str | None = None, kind: str | None = None) -> list[Schedule]: ...
    def enqueue(self, method: str, payload: Any, retry: RetryPolicy) -> str: ...
    def dequeue(self, item_id: str) -> bool: ...
    def list_queue(self) -> list[QueueItem]: ...
    def job_started(self, name: str) -> None: ...
    def step_result(self, job: str, step: str) -> tuple[bool, Any]: ...
    def record_step(self, job: str, step: str, result: Any) -> None: ...
    def job_finished(self, name: str) -> None: ...
