"""Coalesce a stream's items: whatever arrived while the last batch was being sent goes as one.

A streamed item costs a Ray object and a report to the caller, about half a millisecond of CPU
on both sides, whatever its size: a model's tokens sent one per item spend more time in Ray than
in the model. Here the source runs in its own task, queuing its items, and each batch takes every
item queued so far. Nothing waits for a batch to fill: an item that arrives alone leaves alone,
at once, so a slow stream is as it was. The first items leave as early as they would alone:
the source hands over to the sender after each of its first EAGER items (else it would go on
with whatever it has buffered first, a model's first tokens waiting behind the next ones).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator
from typing import TypeVar

T = TypeVar("T")

#: Items queued ahead of the sender before the source waits (backpressure for fast sources).
MAX_QUEUED = 1024
#: Most items in one batch (a batch is one Ray object; keep it well under the object limits).
MAX_BATCH = 256
#: Items after each of which the source lets the sender run (a model's first tokens).
EAGER = 8


async def in_bursts(items: AsyncGenerator[T, None], max_batch: int = MAX_BATCH) -> AsyncIterator[list[T]]:
    """`items`, in batches of what has arrived (order kept). Closing this closes the source in
    its task (a cancelled stream cancels and closes the source); an exception of the source is raised here
    after the items it yielded before it."""
    queue: asyncio.Queue[tuple[T, ...]] = asyncio.Queue(MAX_QUEUED)  # (item,) or () at the end
    failure: list[BaseException] = []

    async def pump() -> None:
        eager = EAGER
        try:  # closed here, in this task, whatever ends it (a span the source made current ends here too)
            async with contextlib.aclosing(items):
                async for item in items:
                    await queue.put((item,))
                    if eager:
                        eager -= 1
                        await asyncio.sleep(0)  # the sender takes it now
        except Exception as exc:
            failure.append(exc)
        finally:
            with contextlib.suppress(asyncio.QueueFull):  # cancelled by the closing sender: nobody reads
                queue.put_nowait(())

    task = asyncio.get_running_loop().create_task(pump())
    try:
        ended = False
        while not ended:
            batch: list[T] = []
            entry = await queue.get()
            while True:
                if not entry:
                    ended = True
                    break
                batch.append(entry[0])
                if len(batch) >= max_batch or queue.empty():
                    break
                entry = queue.get_nowait()
            if batch:
                yield batch
        if failure:
            raise failure[0]
    finally:
        if not task.done():
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
