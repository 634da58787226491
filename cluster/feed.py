"""What a host process's agents did lately: the recent events (`agents.events`) of every agent it
carries, numbered, and totals by type and event, for the inspector, `ray-agents events` and
`ray-agents top`.

One `EventFeed` per host process subscribes to every event and keeps the last `capacity` of
them; readers ask for those after a number they saw (`since`), waiting briefly for new ones (a
long poll: the host's `events` method). Totals count every event since the process started, so
a reader that samples them twice gets rates.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections import Counter, deque
from typing import Any

from agents import events

#: Events a host keeps for readers (the newest; older ones are dropped).
FEED_CAPACITY = 2000


class EventFeed:
    """The recent events of this process, numbered from 1, with totals by (type, name)."""

    def __init__(self, capacity: int = FEED_CAPACITY) -> None:
        self._events: deque[tuple[int, events.Event]] = deque(maxlen=capacity)
        self._numbers = itertools.count(1)
        self.last = 0
        #: This feed's identity: numbers from another feed (the agent's earlier host) mean nothing here.
        self.source = uuid.uuid4().hex[:12]
        self.totals: Counter[tuple[str, str]] = Counter()
        #: Readers waiting for the next event (set by `__call__`, which runs on the host's loop).
        self._arrived: asyncio.Event | None = None

    def __call__(self, event: events.Event) -> None:
        self.last = next(self._numbers)
        self._events.append((self.last, event))
        self.totals[event.agent_type, event.name] += 1
        if self._arrived is not None:
            self._arrived.set()
            self._arrived = None

    def since(self, after: int, key: tuple[str, str] | None = None, limit: int = 500) -> list[dict[str, Any]]:
        """Events numbered above `after` (of one agent, `key` = (type, ID), if given), oldest
        first, at most `limit` (the oldest ones)."""
        newer: list[tuple[int, events.Event]] = []
        for number, event in reversed(self._events):  # newest first: stop at what was seen
            if number <= after:
                break
            if key is None or (event.agent_type, event.agent_id) == key:
                newer.append((number, event))
        return [{"n": number, **event.to_json()} for number, event in reversed(newer)][:limit]

    async def wait(
        self, after: int, key: tuple[str, str] | None, timeout: float, source: str | None = None
    ) -> dict[str, Any]:
        """`since(after, key)`, waiting up to `timeout` seconds for one if there is none yet.
        Returns {"events": [...], "last": the number to pass next, "source": this feed}. A
        number from another feed (`source` given and not this one's: the agent moved or woke in
        another process) means nothing here: read from the start."""
        if (source is not None and source != self.source) or after > self.last:
            after = 0
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            found = self.since(after, key)
            if found:
                return {"events": found, "last": found[-1]["n"], "source": self.source}
            remaining = deadline - loop.time()
            if remaining <= 0:
                return {"events": [], "last": self.last, "source": self.source}
            if self._arrived is None:
                self._arrived = asyncio.Event()
            arrived = self._arrived
            try:
                await asyncio.wait_for(arrived.wait(), remaining)
            except TimeoutError:
                pass

    def counts(self) -> dict[str, dict[str, int]]:
        """Events since this process started, by type, then name."""
        by_type: dict[str, dict[str, int]] = {}
        for (agent_type, name), count in self.totals.items():
            by_type.setdefault(agent_type, {})[name] = count
        return by_type
