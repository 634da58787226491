"""Coalesce concurrent requests into one actor call: what arrives in one event-loop tick goes together.

Activations come in bursts (a thousand new IDs over HTTP, a wave of alarms). Sending each as its
own Ray call costs a call's CPU on both sides per agent; sent as one list, the burst costs one.
Nothing waits for a batch to fill: a lone request leaves on the next tick, as it would have alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

I = TypeVar("I")  # noqa: E741 - an item
R = TypeVar("R")


class Coalescer(Generic[I, R]):
    """`await submit(item)` gives that item's result of `send(items)`, called once per tick with
    every item submitted in it (at most `max_batch` at a time). If `send` raises, every item of
    the batch raises it. Safe to share between event loops (each has its own batches)."""

    def __init__(self, send: Callable[[list[I]], Awaitable[list[R]]], max_batch: int = 1000) -> None:
        self._send = send
        self._max_batch = max_batch
        self._pending: dict[asyncio.AbstractEventLoop, list[tuple[I, asyncio.Future[R]]]] = {}
        self._sending: set[asyncio.Task[None]] = set()

    async def submit(self, item: I) -> R:
        loop = asyncio.get_running_loop()
        result: asyncio.Future[R] = loop.create_future()
        pending = self._pending.setdefault(loop, [])
        pending.append((item, result))
        if len(pending) == 1:
            loop.call_soon(self._flush, loop)
        return await result

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        pending = self._pending.pop(loop, [])
        for start in range(0, len(pending), self._max_batch):
            task = loop.create_task(self._deliver(pending[start : start + self._max_batch]))
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)

    async def _deliver(self, batch: list[tuple[I, asyncio.Future[R]]]) -> None:
        try:
            results = await self._send([item for item, _ in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"a batch of {len(batch)} got {len(results)} results")
        except BaseException as exc:
            for _, future in batch:
                if future.done():
                    continue
                if isinstance(exc, asyncio.CancelledError):
                    future.cancel()
                else:
                    future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)
