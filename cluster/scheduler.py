"""The scheduling engine of one agent: schedules, queue and durable jobs over its SQLite database.

Runs inside the agent's turns (see `agents.scheduling` for the semantics and the data types).
Its tables are created on first use, so agents that never schedule carry none of them.
"""

from __future__ import annotations

import hashlib
import inspect
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from agents.errors import InvalidScheduleError, InvalidStateError
from agents.scheduling import Kind, QueueItem, RetryPolicy, Schedule
from cluster.state import pack, unpack

_TABLES = (
    """CREATE TABLE IF NOT EXISTS _ra_schedules(
        id TEXT PRIMARY KEY, method TEXT NOT NULL, payload BLOB, kind TEXT NOT NULL,
        next_run REAL NOT NULL, cron TEXT, interval REAL, attempts INTEGER NOT NULL DEFAULT 0,
        status TEXT NOT NULL DEFAULT 'pending', retry BLOB NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS _ra_schedules_due ON _ra_schedules(status, next_run)",
    """CREATE TABLE IF NOT EXISTS _ra_queue(
        seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE NOT NULL, method TEXT NOT NULL,
        payload BLOB, attempts INTEGER NOT NULL DEFAULT 0, next_try REAL NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending', retry BLOB NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS _ra_jobs(
        name TEXT PRIMARY KEY, status TEXT NOT NULL, started REAL NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS _ra_steps(
        job TEXT NOT NULL, step TEXT NOT NULL, result BLOB, PRIMARY KEY(job, step))""",
)


def parse_cron(expression: str) -> tuple[str, ZoneInfo]:
    """Split `[CRON_TZ=Zone ]fields` and validate both parts; raise InvalidScheduleError."""
    tz = ZoneInfo("UTC")
    text = expression.strip()
    if text.startswith("CRON_TZ="):
        zone, _, text = text[len("CRON_TZ=") :].partition(" ")
        try:
            tz = ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise InvalidScheduleError(f"unknown time zone {zone!r} in cron {expression!r}") from None
    fields = text.split()
    if len(fields) not in (5, 6) or not croniter.is_valid(text, second_at_beginning=len(fields) == 6):
        raise InvalidScheduleError(
            f"invalid cron expression {expression!r}: expected 5 fields (min hour day month weekday) "
            "or 6 with seconds first, optionally prefixed by CRON_TZ=<zone>"
        )
    return text, tz


def next_cron_tick(expression: str, after: float) -> float:
    """The first tick of a cron expression strictly after `after` (a Unix time)."""
    text, tz = parse_cron(expression)
    start = datetime.fromtimestamp(after, tz)
    it = croniter(text, start, second_at_beginning=len(text.split()) == 6)
    return it.get_next(datetime).timestamp()


@dataclass(frozen=True)
class WorkItem:
    """One due run: a schedule or a queue item."""

    source: Literal["schedule", "queue"]
    id: str
    method: str
    payload: Any
    attempts: int
    retry: RetryPolicy
    #: When it was due to run (seconds since the epoch).
    due: float


class Scheduler:
    """Schedules and queue of one agent over its SQL database (`sql(query, params) -> rows`).

    Its tables are created on first use, so agents that never schedule carry none of them.
    """

    def __init__(self, agent_cls: type, sql: Any, db_empty: Callable[[], bool]) -> None:
        self._agent_cls = agent_cls
        self._sql = sql
        #: The database has no table at all (asked first: it answers without opening the file).
        self._db_empty = db_empty

    def _db(self, query: str, *params: Any) -> list[dict[str, Any]]:
        for statement in _TABLES:
            self._sql(statement, ())
        return self._sql(query, params)

    def in_use(self) -> bool:
        """Whether this agent ever scheduled or queued anything (its tables exist)."""
        if self._db_empty():
            return False
        return bool(self._sql("SELECT 1 FROM sqlite_master WHERE name = '_ra_jobs'", ()))

    # ---- validation --------------------------------------------------------------------------

    def _check_target(self, method: str, payload: Any) -> bytes:
        target = getattr(self._agent_cls, method, None) if not method.startswith("__") else None
        if target is None or not inspect.isfunction(target):
            raise InvalidScheduleError(f"{self._agent_cls.__name__} has no method {method!r} to run")
        try:
            return pack(payload)
        except InvalidStateError:
            raise InvalidScheduleError(f"payload for {method!r} cannot be serialized (msgpack)") from None

    @staticmethod
    def _when(when: float | int | datetime | str, now: float) -> tuple[Kind, float, str | None]:
        if isinstance(when, bool):
            raise InvalidScheduleError("`when` must be seconds, an aware datetime or a cron string")
        if isinstance(when, int | float):
            if when < 0:
                raise InvalidScheduleError("a delay cannot be negative")
            return "delayed", now + float(when), None
        if isinstance(when, datetime):
            if when.tzinfo is None or when.utcoffset() is None:
                raise InvalidScheduleError("a datetime without a time zone is ambiguous; pass an aware one")
            return "scheduled", when.timestamp(), None
        if isinstance(when, str):
            return "cron", next_cron_tick(when, now), when
        raise InvalidScheduleError(f"cannot schedule at {when!r}")

    # ---- schedules ---------------------------------------------------------------------------

    def add(self, when: Any, method: str, payload: Any, retry: RetryPolicy) -> Schedule:
        now = time.time()
        kind, next_run, cron = self._when(when, now)
        packed = self._check_target(method, payload)
        schedule_id = uuid.uuid4().hex[:16]
        self._db(
            "INSERT INTO _ra_schedules(id, method, payload, kind, next_run, cron, retry)"
            " VALUES (?,?,?,?,?,?,?)",
            schedule_id,
            method,
            packed,
            kind,
            next_run,
            cron,
            pack(asdict(retry)),
        )
        return Schedule(schedule_id, method, payload, kind, next_run, cron=cron, retry=retry)

    def add_every(self, seconds: float, method: str, payload: Any, retry: RetryPolicy) -> Schedule:
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds <= 0:
            raise InvalidScheduleError("an interval must be a positive number of seconds")
        packed = self._check_target(method, payload)
        schedule_id = "every-" + hashlib.blake2b(method.encode() + b"\0" + packed, digest_size=8).hexdigest()
        existing = self.get(schedule_id)
        if existing is not None:
            if existing.interval != float(seconds):
                self._db("UPDATE _ra_schedules SET interval = ? WHERE id = ?", float(seconds), schedule_id)
            return self.get(schedule_id)  # type: ignore[return-value]
        next_run = time.time() + float(seconds)
        self._db(
            "INSERT INTO _ra_schedules(id, method, payload, kind, next_run, interval, retry)"
            " VALUES (?,?,?,?,?,?,?)",
            schedule_id,
            method,
            packed,
            "interval",
            next_run,
            float(seconds),
            pack(asdict(retry)),
        )
        return Schedule(
            schedule_id, method, payload, "interval", next_run, interval=float(seconds), retry=retry
        )

    def cancel(self, schedule_id: str) -> bool:
        found = self.get(schedule_id) is not None
        self._db("DELETE FROM _ra_schedules WHERE id = ?", schedule_id)
        return found

    def get(self, schedule_id: str) -> Schedule | None:
        rows = self._db("SELECT * FROM _ra_schedules WHERE id = ?", schedule_id)
        return _schedule(rows[0]) if rows else None

    def list(self, method: str | None = None, kind: str | None = None) -> list[Schedule]:
        rows = self._db("SELECT * FROM _ra_schedules ORDER BY next_run")
        return [
            s
            for s in map(_schedule, rows)
            if (method is None or s.method == method) and (kind is None or s.kind == kind)
        ]

    # ---- queue -------------------------------------------------------------------------------

    def enqueue(self, method: str, payload: Any, retry: RetryPolicy) -> str:
        packed = self._check_target(method, payload)
        item_id = uuid.uuid4().hex[:16]
        self._db(
            "INSERT INTO _ra_queue(id, method, payload, next_try, retry) VALUES (?,?,?,?,?)",
            item_id,
            method,
            packed,
            time.time(),
            pack(asdict(retry)),
        )
        return item_id

    def dequeue(self, item_id: str) -> bool:
        found = bool(self._db("SELECT 1 FROM _ra_queue WHERE id = ?", item_id))
        self._db("DELETE FROM _ra_queue WHERE id = ?", item_id)
        return found

    def list_queue(self) -> list[QueueItem]:
        rows = self._db("SELECT * FROM _ra_queue ORDER BY seq")
        return [
            QueueItem(
                r["id"],
                r["method"],
                unpack(r["payload"]),
                r["attempts"],
                r["next_try"],
                r["status"],
                RetryPolicy(**unpack(r["retry"])),
            )
            for r in rows
        ]

    # ---- running due work --------------------------------------------------------------------

    def next_due(self) -> float | None:
        """When the next schedule or queue item is due (None if nothing is pending). Of the queue
        only the head counts: the items behind it wait for it (FIFO)."""
        if not self.in_use():
            return None
        rows = self._db(
            "SELECT MIN(t) AS due FROM (SELECT MIN(next_run) AS t FROM _ra_schedules WHERE status='pending'"
            " UNION ALL SELECT next_try FROM"
            " (SELECT next_try FROM _ra_queue WHERE status='pending' ORDER BY seq LIMIT 1))"
        )
        return rows[0]["due"]

    def due(self, now: float) -> list[WorkItem]:
        """Due work: the queue head first (FIFO: items wait for the one before them), then schedules."""
        items: list[WorkItem] = []
        if not self.in_use():
            return items
        head = self._db("SELECT * FROM _ra_queue WHERE status='pending' ORDER BY seq LIMIT 1")
        if head and head[0]["next_try"] <= now:
            r = head[0]
            items.append(
                WorkItem(
                    "queue",
                    r["id"],
                    r["method"],
                    unpack(r["payload"]),
                    r["attempts"],
                    RetryPolicy(**unpack(r["retry"])),
                    r["next_try"],
                )
            )
        for r in self._db(
            "SELECT * FROM _ra_schedules WHERE status='pending' AND next_run <= ? ORDER BY next_run", now
        ):
            items.append(
                WorkItem(
                    "schedule",
                    r["id"],
                    r["method"],
                    unpack(r["payload"]),
                    r["attempts"],
                    RetryPolicy(**unpack(r["retry"])),
                    r["next_run"],
                )
            )
        return items

    def succeeded(self, item: WorkItem, now: float) -> None:
        """Bookkeeping for a successful run; runs inside the run's own turn."""
        if item.source == "queue":
            self._db("DELETE FROM _ra_queue WHERE id = ?", item.id)
            return
        schedule = self.get(item.id)
        if schedule is None:  # cancelled by the run itself
            return
        if schedule.kind == "cron":
            self._reschedule(item.id, next_cron_tick(schedule.cron or "", now))
        elif schedule.kind == "interval":
            self._reschedule(item.id, max(schedule.next_run + (schedule.interval or 0), now))
        else:
            self._db("DELETE FROM _ra_schedules WHERE id = ?", item.id)

    def _reschedule(self, schedule_id: str, next_run: float) -> None:
        self._db("UPDATE _ra_schedules SET next_run = ?, attempts = 0 WHERE id = ?", next_run, schedule_id)

    def failed(self, item: WorkItem, now: float) -> bool:
        """Bookkeeping for a failed run (in a turn of its own). True if it will be retried."""
        attempts = item.attempts + 1
        table, column = ("_ra_queue", "next_try") if item.source == "queue" else ("_ra_schedules", "next_run")
        if attempts < item.retry.max_attempts:
            self._db(
                f"UPDATE {table} SET attempts = ?, {column} = ? WHERE id = ?",
                attempts,
                now + item.retry.delay(attempts),
                item.id,
            )
            return True
        schedule = self.get(item.id) if item.source == "schedule" else None
        if schedule is not None and schedule.kind in ("cron", "interval"):
            # Give up this tick only; the recurring schedule carries on.
            self.succeeded(item, now)
        else:
            self._db(f"UPDATE {table} SET attempts = ?, status = 'failed' WHERE id = ?", attempts, item.id)
        return False

    # ---- durable jobs ------------------------------------------------------------------------

    def job_started(self, name: str) -> None:
        self._db(
            "INSERT OR IGNORE INTO _ra_jobs(name, status, started) VALUES (?, 'running', ?)",
            name,
            time.time(),
        )

    def step_result(self, job: str, step: str) -> tuple[bool, Any]:
        rows = self._db("SELECT result FROM _ra_steps WHERE job = ? AND step = ?", job, step)
        return (True, unpack(rows[0]["result"])) if rows else (False, None)

    def record_step(self, job: str, step: str, result: Any) -> None:
        try:
            packed = pack(result)
        except InvalidStateError:
            raise InvalidStateError(f"result of step {step!r} cannot be serialized (msgpack)") from None
        self._db("INSERT INTO _ra_steps(job, step, result) VALUES (?, ?, ?)", job, step, packed)

    def job_finished(self, name: str) -> None:
        self._db("DELETE FROM _ra_steps WHERE job = ?", name)
        self._db("DELETE FROM _ra_jobs WHERE name = ?", name)

    def unfinished_jobs(self) -> list[str]:
        if not self.in_use():
            return []
        return [
            r["name"] for r in self._db("SELECT name FROM _ra_jobs WHERE status = 'running' ORDER BY started")
        ]


def _schedule(row: dict[str, Any]) -> Schedule:
    return Schedule(
        id=row["id"],
        method=row["method"],
        payload=unpack(row["payload"]),
        kind=row["kind"],
        next_run=row["next_run"],
        cron=row["cron"],
        interval=row["interval"],
        attempts=row["attempts"],
        status=row["status"],
        retry=RetryPolicy(**unpack(row["retry"])),
    )
