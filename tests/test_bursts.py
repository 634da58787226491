"""Stream coalescing (`cluster.bursts`): order kept, nothing held back, failures and cancels pass through."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from cluster.bursts import EAGER, in_bursts


async def instant(n: int) -> AsyncIterator[int]:
    """A source whose items are all there at once (a model reply already buffered)."""
    for i in range(n):
        yield i


async def test_a_fast_source_goes_in_growing_batches_in_order() -> None:
    batches = [batch async for batch in in_bursts(instant(1000), max_batch=64)]
    assert [i for batch in batches for i in batch] == list(range(1000))
    assert [len(b) for b in batches[:EAGER]] == [1] * EAGER  # the first items leave alone, at once
    assert max(len(b) for b in batches) == 64 and len(batches) < EAGER + 20


async def test_a_slow_source_is_never_held_back() -> None:
    step = asyncio.Event()

    async def paced() -> AsyncIterator[int]:
        for i in range(5):
            await step.wait()
            step.clear()
            yield i

    received: list[list[int]] = []
    bursts = in_bursts(paced())
    for i in range(5):
        step.set()
        received.append(await asyncio.wait_for(anext(bursts), 5))  # each item leaves on its own
        assert received[-1] == [i]
    step.set()
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(anext(bursts), 5)


async def test_a_failure_comes_after_the_items_before_it() -> None:
    async def failing() -> AsyncIterator[int]:
        yield 1
        yield 2
        raise ValueError("boom")

    seen: list[int] = []
    with pytest.raises(ValueError, match="boom"):
        async for batch in in_bursts(failing()):
            seen.extend(batch)
    assert seen == [1, 2]


async def test_closing_the_batches_closes_the_source_in_its_task() -> None:
    closed = asyncio.Event()

    async def endless() -> AsyncIterator[int]:
        i = 0
        try:
            while True:
                yield i
                i += 1
                await asyncio.sleep(0)
        finally:
            closed.set()

    async with contextlib.aclosing(in_bursts(endless())) as bursts:
        assert await anext(bursts) == [0]
    await asyncio.wait_for(closed.wait(), 5)
