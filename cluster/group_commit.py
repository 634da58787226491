"""Group commit with an output gate: consecutive turns share one checkpoint; nothing leaves early.

Turns run one at a time. A write turn does not wait for its own checkpoint before the next turn
starts: it captures what the store must hold (`PendingCheckpoint`, taken in the turn, so it is
consistent) and queues it with the pushes it made. One writer at a time writes the latest capture,
which covers every turn queued before it; then those turns' pushes leave, in order, and their
callers get their results. A caller never sees a result, and a client never sees a push, that a
landed checkpoint does not cover. If a write fails, every turn it covered (and every one queued
after) fails, and none of their pushes is sent.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

C = TypeVar("C")  # what is written: the latest capture covers the earlier ones
P = TypeVar("P")  # a push


@dataclass
class _Queued(Generic[C, P]):
    capture: C
    pushes: list[P]
    landed: asyncio.Future[None] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class GroupCommit(Generic[C, P]):
    """`request(capture, pushes)` queues a checkpoint; `gate()` is what a result must wait for."""

    def __init__(
        self,
        write: Callable[[C], Awaitable[None]],
        release: Callable[[list[P]], None],
        failed: Callable[[BaseException], None],
    ) -> None:
        self._write = write
        self._release = release
        self._failed = failed
        self._queue: list[_Queued[C, P]] = []
        self._writing: list[_Queued[C, P]] = []
        self._writer: asyncio.Task[None] | None = None
        self._error: BaseException | None = None

    def request(self, capture: C | None, pushes: list[P]) -> asyncio.Future[None] | None:
        """Queue a checkpoint of `capture` (everything committed up to now) and the pushes to send
        once it has landed; the future resolves then (or fails with the write's error). With no
        capture (the turn changed nothing), the pushes go with the last checkpoint queued, or at
        once if none is; None is returned then if nothing is pending. After a failed write,
        nothing is sent any more: what memory holds was never stored."""
        if self._error is not None:
            return self._failed_future()
        pending = self._queue or self._writing
        if capture is None:
            if not pending:
                self._release(pushes)
                return None
            pending[-1].pushes.extend(pushes)
            return pending[-1].landed
        queued: _Queued[C, P] = _Queued(capture, pushes)
        self._queue.append(queued)
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(self._run())
        return queued.landed

    def fail(self, exc: BaseException) -> None:
        """Give up: what is queued (and anything requested later) fails with `exc`, unsent (a
        checkpoint could not even be captured)."""
        if self._error is None:
            self._fail(exc)

    def _failed_future(self) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        future.set_exception(self._error or RuntimeError("checkpoint failed"))
        future.exception()  # retrieved: callers learn of it through drain()
        return future

    def gate(self) -> asyncio.Future[None] | None:
        """The checkpoint covering everything committed so far, if it has not landed yet: a turn's
        result (a read's too: it may have seen what is not durable yet) waits for it."""
        pending = self._queue or self._writing
        return pending[-1].landed if pending else None

    async def drain(self) -> None:
        """Wait until everything requested so far has landed (raise if a write failed)."""
        gate = self.gate()
        if gate is not None:
            await asyncio.shield(gate)
        elif self._error is not None:
            raise self._error

    async def _run(self) -> None:
        try:
            while self._queue and self._error is None:
                self._writing, self._queue = self._queue, []
                # Callers wait on futures (shielded), so cancelling a call never stops a write
                # half-way: only this task runs it.
                await self._write(self._writing[-1].capture)
                done, self._writing = self._writing, []
                for queued in done:
                    self._release(queued.pushes)
                    queued.landed.set_result(None)
        except BaseException as exc:  # nothing queued may wait forever, whatever went wrong
            self._fail(exc)
            if not isinstance(exc, Exception):
                raise

    def _fail(self, exc: BaseException) -> None:
        self._error = exc
        failed, self._writing, self._queue = self._writing + self._queue, [], []
        for queued in failed:
            queued.landed.set_exception(exc)
            queued.landed.exception()  # retrieved: a turn nobody waits for must not log noise
        self._failed(exc)
