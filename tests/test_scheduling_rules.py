"""Scheduling rules on a plain SQLite database (no Ray): cron catch-up, retries, ordering."""

from __future__ import annotations

import sqlite3
import time
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from agents.scheduling import InvalidScheduleError, RetryPolicy
from cluster.scheduler import Scheduler, next_cron_tick


class Target:
    def tick(self) -> None: ...


@pytest.fixture
def scheduler() -> Scheduler:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.row_factory = sqlite3.Row

    def sql(query: str, params: tuple) -> list[dict]:
        return [dict(r) for r in conn.execute(query, params).fetchall()]

    return Scheduler(Target, sql, lambda: False)


def test_cron_missed_for_hours_runs_once_then_resumes_from_now(scheduler: Scheduler) -> None:
    schedule = scheduler.add("*/5 * * * *", "tick", None, RetryPolicy())
    scheduler._db("UPDATE _ra_schedules SET next_run = ?", time.time() - 3 * 3600)  # cluster was down
    now = time.time()
    due = scheduler.due(now)
    assert [item.id for item in due] == [schedule.id]  # one run, not 36
    scheduler.succeeded(due[0], now)
    assert scheduler.due(now) == []
    assert now < scheduler.get(schedule.id).next_run <= now + 300


def test_cron_time_zone_is_honoured() -> None:
    after = datetime(2026, 7, 1, 12, 0, tzinfo=ZoneInfo("UTC")).timestamp()
    tick = next_cron_tick("CRON_TZ=Europe/Paris 0 15 * * *", after)
    assert datetime.fromtimestamp(tick, ZoneInfo("UTC")).hour == 13  # 15:00 CEST


def test_backoff_grows_exponentially_with_bounded_jitter() -> None:
    policy = RetryPolicy(initial_delay=1.0, multiplier=2.0, max_delay=5.0, jitter=0.2)
    for attempt, base in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 5.0), (9, 5.0)]:
        assert base * 0.8 <= policy.delay(attempt) <= base * 1.2


def test_queue_head_blocks_later_items_until_it_is_done(scheduler: Scheduler) -> None:
    first = scheduler.enqueue("tick", 1, RetryPolicy(max_attempts=2, initial_delay=60))
    scheduler.enqueue("tick", 2, RetryPolicy())
    now = time.time() + 1
    [head] = scheduler.due(now)
    assert head.id == first
    assert scheduler.failed(head, now) is True  # retried in a minute: the second item waits (FIFO)
    assert scheduler.due(now) == []
    assert scheduler.next_due() > now + 30  # the alarm waits for the head, not the item behind it
    [again] = scheduler.due(now + 120)
    assert scheduler.failed(again, now + 120) is False  # given up: marked failed, the queue moves on
    assert [i.payload for i in scheduler.due(now + 120)] == [2]


def test_nothing_is_stored_for_a_refused_schedule(scheduler: Scheduler) -> None:
    with pytest.raises(InvalidScheduleError):
        scheduler.add("not a cron", "tick", None, RetryPolicy())
    assert scheduler.list() == []
    assert scheduler.next_due() is None


def test_dequeue_removes_a_waiting_item_and_list_queue_shows_the_rest(scheduler: Scheduler) -> None:
    first = scheduler.enqueue("tick", "a", RetryPolicy())
    second = scheduler.enqueue("tick", "b", RetryPolicy())
    assert scheduler.dequeue(first) is True
    assert scheduler.dequeue(first) is False
    assert [(i.id, i.payload) for i in scheduler.list_queue()] == [(second, "b")]
