"""Event-loop lag watchdog: names the agent and turn that blocked a shared host's loop.

Pooled agents share one asyncio loop, so one agent running blocking code stalls its host-mates.
A heartbeat task ticks on the loop; a daemon thread notices when the ticks stop and reads the
loop thread's stack to find the `Activation` whose turn is running there.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import time
from dataclasses import dataclass
from types import FrameType
from typing import Any

log = logging.getLogger("ray_agents.watchdog")


@dataclass(frozen=True)
class Stall:
    """One report: how long the loop had been blocked when seen, and by whom (if an agent)."""

    seconds: float
    key: str | None
    method: str | None


class LoopWatchdog:
    """Watches the running loop; `stalls` keeps the latest reports (one per stall)."""

    def __init__(self, threshold: float = 0.5, period: float = 0.05, keep: int = 100) -> None:
        self.threshold = threshold
        self.period = period
        self.keep = keep
        self.stalls: list[Stall] = []
        self._beat = time.monotonic()
        self._loop_thread = threading.get_ident()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start ticking on the current loop and watching from a daemon thread (idempotent)."""
        if self._task is not None:
            return
        self._loop_thread = threading.get_ident()
        self._task = asyncio.get_running_loop().create_task(self._tick())
        threading.Thread(target=self._watch, name="ray-agents-watchdog", daemon=True).start()

    async def _tick(self) -> None:
        while True:
            self._beat = time.monotonic()
            await asyncio.sleep(self.period)

    def _watch(self) -> None:
        reported_beat = None
        while True:
            time.sleep(self.period)
            beat = self._beat
            lag = time.monotonic() - beat
            if lag < self.threshold or beat == reported_beat:
                continue
            reported_beat = beat  # one report per stall, however long it lasts
            key, method = self._culprit()
            stall = Stall(round(lag, 3), key, method)
            self.stalls = [*self.stalls[-(self.keep - 1) :], stall]
            log.warning(
                "event loop blocked for %.2f s by %s: its host-mates wait; move blocking work to "
                "a thread (asyncio.to_thread) or the class to hosting='dedicated'",
                lag,
                f"agent {key} in turn {method}" if key else "code outside any agent turn",
            )

    def _culprit(self) -> tuple[str | None, str | None]:
        frame: FrameType | None = sys._current_frames().get(self._loop_thread)
        while frame is not None:
            owner: Any = frame.f_locals.get("self")
            turn = getattr(owner, "current_turn", None)
            if isinstance(turn, str) and hasattr(owner, "key"):
                return owner.key, turn
            frame = frame.f_back
        return None, None
