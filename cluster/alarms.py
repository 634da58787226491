"""The in-process alarm of one activation: one timer for its next due schedule or queue item."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


class AlarmTimer:
    """Calls `fire()` when the next piece of work is due; never runs two `fire()`s at once."""

    def __init__(self, fire: Callable[[], Awaitable[None]]) -> None:
        self._fire = fire
        self._handle: asyncio.TimerHandle | None = None
        self._due: float | None = None
        self._task: asyncio.Task[None] | None = None
        self._again = False

    def arm(self, due: float | None) -> None:
        """Set the alarm to `due` (a Unix time), or clear it with None."""
        if due == self._due and (self._handle is not None or due is None):
            return
        self.cancel()
        self._due = due
        if due is not None:
            delay = max(0.0, due - time.time())
            self._handle = asyncio.get_running_loop().call_later(delay, self._kick)

    def _kick(self) -> None:
        self._handle, self._due = None, None
        if self._task is not None and not self._task.done():
            self._again = True
            return
        self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        while True:
            self._again = False
            await self._fire()
            if not self._again:
                return

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._handle, self._due = None, None
