"""Agent classes the tests exercise. A module of its own so Ray workers import it by name."""

from __future__ import annotations

import asyncio

import pydantic

from agents import Agent, callable, get_agent, handle_of
from agents.errors import InvalidScheduleError


class Counter(Agent):
    initial_state = {"count": 0, "starts": 0}

    async def on_start(self) -> None:
        self.sql("CREATE TABLE IF NOT EXISTS log(n INTEGER NOT NULL)")
        self.set_state({**self.state, "starts": self.state["starts"] + 1})

    @callable
    async def add(self, n: int) -> int:
        self.set_state({**self.state, "count": self.state["count"] + n})
        self.sql("INSERT INTO log(n) VALUES (?)", n)
        return self.state["count"]

    @callable
    async def slow_increment(self) -> int:
        before = self.state["count"]
        await asyncio.sleep(0.01)  # another call may not run in between
        self.set_state({**self.state, "count": before + 1})
        return before + 1

    @callable
    async def add_slowly(self, n: int, marker: str) -> int:
        self.set_state({**self.state, "count": self.state["count"] + n})
        self.sql("INSERT INTO log(n) VALUES (?)", n)
        with open(marker, "w") as f:  # tells the test the turn is under way
            f.write("started")
        await asyncio.sleep(60)
        return self.state["count"]

    @callable(readonly=True)
    def get(self) -> dict:
        return dict(self.state)

    @callable
    def logged(self) -> list[int]:
        return [row["n"] for row in self.sql("SELECT n FROM log ORDER BY rowid")]

    @callable
    async def add_then_fail(self, n: int) -> None:
        self.set_state({**self.state, "count": self.state["count"] + n})
        self.sql("INSERT INTO log(n) VALUES (?)", n)
        raise KeyError(f"failing after adding {n}")

    @callable
    def set_unserializable(self) -> None:
        self.set_state({**self.state, "bad": object()})

    @callable(readonly=True)
    def sneaky_write(self) -> None:
        self.sql("INSERT INTO log(n) VALUES (-1)")

    @callable
    async def countdown(self, start: int):
        for i in range(start, 0, -1):
            self.set_state({**self.state, "count": self.state["count"] + 1})
            yield i

    @callable
    async def stream_then_fail(self):
        self.set_state({**self.state, "count": 1000})
        yield "first"
        raise RuntimeError("stream broke")

    @callable
    async def wipe(self) -> str:
        await self.destroy()
        return "bye"

    @callable(readonly=True)
    def identity(self) -> dict:
        return {"name": self.name, "type_name": self.type_name}

    def not_exposed(self) -> str:
        return "secret"


class Profile(Agent):
    class State(pydantic.BaseModel):
        name: str = ""
        age: int = pydantic.Field(default=0, ge=0)

    def validate_state_change(self, new: State, source: object) -> None:
        if new.name == "forbidden":
            raise ValueError("that name is not allowed")

    async def on_state_update(self, state: State, source: object) -> None:
        self.sql("CREATE TABLE IF NOT EXISTS updates(name TEXT, age INTEGER)")
        self.sql("INSERT INTO updates VALUES (?, ?)", state.name, state.age)

    @callable
    def update(self, name: str, age: int) -> dict:
        self.set_state(self.State(name=name, age=age) if age >= 0 else {"name": name, "age": age})
        return self.state.model_dump()

    @callable
    def rename(self, name: str) -> None:
        self.set_state({"name": name, "age": self.state.age})

    @callable
    def updates(self) -> list[dict]:
        self.sql("CREATE TABLE IF NOT EXISTS updates(name TEXT, age INTEGER)")
        return self.sql("SELECT name, age FROM updates")


class Caller(Agent):
    """Calls other agents from inside its turns."""

    @callable
    async def add_to(self, counter_id: str, n: int) -> int:
        return await get_agent(Counter, counter_id).add(n)

    @callable
    async def bounce(self, other_id: str) -> str:
        return await get_agent(Caller, other_id).bounce_back(self.name)

    @callable
    async def bounce_back(self, origin_id: str) -> str:
        return await get_agent(Caller, origin_id).hello()

    @callable
    def hello(self) -> str:
        return f"hello from {self.name}"

    @callable
    async def ping_starter(self, starter_id: str) -> str:
        return await get_agent("calls-back-on-start", starter_id).ping()


class CallsBackOnStart(Agent):
    """Its on_start calls an agent that calls it back: must fail fast, not deadlock."""

    async def on_start(self) -> None:
        await get_agent(Caller, f"{self.name}-peer").ping_starter(self.name)

    @callable
    def ping(self) -> str:
        return "pong"


class Sleepy(Agent):
    """Hibernates after half a second without calls."""

    initial_state = {"count": 0}
    idle_timeout = 0.5

    @callable
    def add(self, n: int) -> int:
        self.set_state({"count": self.state["count"] + n})
        return self.state["count"]


class BrokenStart(Agent):
    async def on_start(self) -> None:
        raise RuntimeError("cannot start")

    @callable
    def ping(self) -> str:
        return "pong"


class Ledger(Agent):
    """SQL with named parameters, and one statement over many rows (`sql_many`)."""

    async def on_start(self) -> None:
        self.sql("CREATE TABLE IF NOT EXISTS entries(account TEXT NOT NULL, amount INTEGER NOT NULL)")

    @callable
    def record(self, account: str, amount: int) -> list[dict]:
        self.sql("INSERT INTO entries VALUES (:account, :amount)", {"account": account, "amount": amount})
        return self.sql("SELECT * FROM entries WHERE account = :account ORDER BY rowid", {"account": account})

    @callable
    def record_many(self, rows: list[tuple[str, int]]) -> int:
        return self.sql_many("INSERT INTO entries VALUES (?, ?)", rows)

    @callable
    def record_many_named(self, rows: list[dict]) -> int:
        return self.sql_many("INSERT INTO entries VALUES (:account, :amount)", rows)

    @callable
    def scale(self, factor: int, accounts: list[str]) -> int:
        rows = ({"factor": factor, "account": a} for a in accounts)  # any iterable, a generator too
        return self.sql_many("UPDATE entries SET amount = amount * :factor WHERE account = :account", rows)

    @callable(readonly=True)
    def entries(self) -> list[dict]:
        return self.sql("SELECT account, amount FROM entries ORDER BY rowid")

    @callable
    def mix_named_and_positional(self) -> None:
        self.sql("INSERT INTO entries VALUES (:account, ?)", {"account": "ada"}, 1)

    @callable
    def one_row_as_rows(self) -> int:
        return self.sql_many(
            "INSERT INTO entries VALUES (:account, :amount)", {"account": "ada", "amount": 1}
        )


def _standalone(text: str) -> None:
    """A plain function: not a method of any agent."""


class Reminders(Agent):
    """Schedules and queues its own methods, bound (`self.notify`) or by name."""

    initial_state = {"notified": []}

    def notify(self, text: str) -> None:
        self.set_state({"notified": [*self.state["notified"], text]})

    @callable
    async def remind(self, text: str) -> dict:
        later = await self.schedule(3600, self.notify, text)
        hourly = await self.schedule_every(3600, self.notify, text)
        queued = await self.queue(self.notify, text)  # runs right after this turn
        return {"later": later.method, "hourly": hourly.method, "queued": queued}

    @callable(readonly=True)
    async def stored(self) -> dict:
        return {
            "schedules": sorted(s.method for s in await self.list_schedules()),
            "queue": [item.method for item in await self.list_queue()],
            "notified": self.state["notified"],
        }

    @callable
    async def try_foreign(self, target: str, how: str) -> dict:
        """Hand `schedule`, `schedule_every` or `queue` something not bound to this agent; report
        what it said and what got stored (caught here, so no rollback hides a stored row)."""
        method = {
            "other_agent": Reminders.__new__(Reminders).notify,  # same class, another object
            "function": _standalone,
            "unbound": Reminders.notify,
        }[target]
        try:
            if how == "schedule":
                await self.schedule(1, method, "x")
            elif how == "schedule_every":
                await self.schedule_every(1, method, "x")
            else:
                await self.queue(method, "x")
            error = ""
        except InvalidScheduleError as exc:
            error = str(exc)
        return {"error": error, "stored": len(await self.list_schedules()) + len(await self.list_queue())}


class Archive(Agent):
    """A database that grows past several chunk-list segments, changes schema, and shrinks."""

    async def on_start(self) -> None:
        self.sql("CREATE TABLE IF NOT EXISTS blobs(id INTEGER PRIMARY KEY, body BLOB NOT NULL)")

    @callable
    def grow(self, megabytes: int) -> None:
        self.sql_many("INSERT INTO blobs(body) VALUES (randomblob(1000))", [()] * (megabytes * 1000))

    @callable
    def reshape(self) -> None:
        self.sql("ALTER TABLE blobs ADD COLUMN tag TEXT DEFAULT 'new'")
        self.sql("CREATE INDEX blobs_tag ON blobs(tag)")
        self.sql("UPDATE blobs SET tag = 'even' WHERE id % 2 = 0")

    @callable
    def shrink(self, keep: int) -> None:
        self.sql("DELETE FROM blobs WHERE id > :keep", {"keep": keep})

    @callable
    def compact(self) -> None:
        self.sql("VACUUM")

    @callable
    def delete_then_vacuum(self) -> None:
        self.sql("DELETE FROM blobs")
        self.sql("VACUUM")  # refused: the turn's transaction has begun (and the DELETE is rolled back)

    @callable(readonly=True)
    def summary(self) -> dict:
        [row] = self.sql("SELECT COUNT(*) AS n, COALESCE(SUM(LENGTH(body)), 0) AS bytes FROM blobs")
        columns = [c["name"] for c in self.sql("PRAGMA table_info(blobs)")]
        indexes = [i["name"] for i in self.sql("PRAGMA index_list(blobs)")]
        [pages] = self.sql("PRAGMA page_count")
        return {**row, "columns": columns, "indexes": indexes, "pages": pages["page_count"]}


class Journal(Agent):
    """State and SQL that move together, for restore points and forks."""

    initial_state = {"entries": 0}

    async def on_start(self) -> None:
        self.sql("CREATE TABLE IF NOT EXISTS lines(n INTEGER PRIMARY KEY, text TEXT, pad BLOB)")

    @callable
    def write(self, text: str, pad: int = 0) -> int:
        self.sql("INSERT INTO lines(text, pad) VALUES (?, zeroblob(?))", text, pad)
        self.set_state({"entries": self.state["entries"] + 1})
        return self.state["entries"]

    @callable(readonly=True)
    def read(self) -> dict:
        lines = [r["text"] for r in self.sql("SELECT text FROM lines ORDER BY n")]
        return {"entries": self.state["entries"], "lines": lines}

    @callable
    async def wipe(self) -> None:
        await self.destroy()

    @callable
    async def restore_self(self, at: int) -> None:
        await handle_of(get_agent(type(self), self.name)).restore(at)

    @callable
    async def destroy_by_handle(self) -> None:
        await handle_of(get_agent(type(self), self.name)).destroy()


class ShortMemoryJournal(Journal):
    """Restore points for two seconds only: collection runs every half second under load."""

    checkpoint_retention = 2.0


class NoHistoryJournal(Journal):
    checkpoint_retention = 0.0
