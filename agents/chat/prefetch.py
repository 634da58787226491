"""An async iterator read ahead in a task of its own, so its first items arrive while the
consumer still awaits something else (a chat's first model call runs while the user's message
is being checkpointed)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Generic, TypeVar

T = TypeVar("T")

_END = object()


class Prefetched(Generic[T]):
    """Iterates `source` at once, in a task, buffering what the consumer has not read yet.
    Iterating it gives `source`'s items in order, then raises what `source` raised. `aclose`
    stops the task and closes `source` (call it however the consumer ends)."""

    def __init__(self, source: AsyncIterator[T]) -> None:
        self._source = source
        self._queue: asyncio.Queue[tuple[object, BaseException | None]] = asyncio.Queue()
        self._task = asyncio.get_running_loop().create_task(self._pull())

    async def _pull(self) -> None:
        try:
            async for item in self._source:
                self._queue.put_nowait((item, None))
        except Exception as exc:  # handed to the consumer, in order
            self._queue.put_nowait((_END, exc))
            return
        self._queue.put_nowait((_END, None))

    def __aiter__(self) -> Prefetched[T]:
        return self

    async def __anext__(self) -> T:
        item, error = await self._queue.get()
        if item is _END:
            self._queue.put_nowait((_END, error))  # stays ended
            if error is not None:
                raise error
            raise StopAsyncIteration
        return item  # type: ignore[return-value]

    async def aclose(self) -> None:
        self._task.cancel()
        await asyncio.wait([self._task])  # never raises: a cancellation of our caller still does
        aclose = getattr(self._source, "aclose", None)
        if aclose is not None:
            await aclose()
