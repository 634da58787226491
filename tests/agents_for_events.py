"""Agents the event tests watch: each subscribes, in its own host process, a JSON-lines sink."""

from __future__ import annotations

from collections.abc import Callable

from agents import Agent, callable, events
from agents.scheduling import RetryPolicy

#: This process's subscriptions, by agent ID (hosts are processes of their own: dedicated).
_watching: dict[str, Callable[[], None]] = {}


class Observed(Agent):
    """Writes notes; its events go to the file `watch` named (again after each wake-up)."""

    hosting = "dedicated"
    initial_state = {"log": None, "names": None, "notes": []}

    async def on_start(self) -> None:
        if self.state["log"]:
            self._subscribe()

    def _subscribe(self) -> None:
        sink = events.JsonLinesSink(self.state["log"])
        _watching[self.name] = events.subscribe(sink, self.state["names"])

    @callable
    def watch(self, path: str, names: list[str] | None = None) -> None:
        self.set_state({**self.state, "log": path, "names": names})
        self._subscribe()

    @callable
    def unwatch(self) -> None:
        _watching.pop(self.name)()
        self.set_state({**self.state, "log": None})

    @callable
    def note(self, text: str) -> int:
        self.set_state({**self.state, "notes": [*self.state["notes"], text]})
        return len(self.state["notes"])

    @callable
    def fail(self) -> None:
        raise RuntimeError("this call fails")

    @callable
    async def enqueue(self, fail: bool, attempts: int) -> str:
        """Queue one run of `job`, tried `attempts` times at most (50 ms apart)."""
        retry = RetryPolicy(max_attempts=attempts, initial_delay=0.05)
        return await self.queue(self.job, {"fail": fail}, retry=retry)

    def job(self, payload: dict) -> None:
        if payload["fail"]:
            raise RuntimeError("this job fails")


class SleepyObserved(Observed):
    idle_timeout = 0.5


class Watched(Agent):
    """Hosted as the deployment says (dedicated or pooled); nothing subscribed in it: what the
    host's own feed and metrics see."""

    initial_state = {"notes": 0}

    @callable
    def note(self) -> int:
        self.set_state({"notes": self.state["notes"] + 1})
        return self.state["notes"]

    @callable(readonly=True)
    def fail(self) -> None:
        raise ValueError("this call fails")


class SleepyWatched(Watched):
    idle_timeout = 0.5
