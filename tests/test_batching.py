"""Coalescing concurrent requests into one actor call (`cluster.batching`)."""

from __future__ import annotations

import asyncio

import pytest

from cluster.batching import Coalescer


async def test_requests_of_one_tick_go_in_one_batch_and_each_gets_its_own_result() -> None:
    batches: list[list[int]] = []

    async def send(items: list[int]) -> list[int]:
        batches.append(items)
        return [i * 10 for i in items]

    coalescer = Coalescer(send)
    assert await asyncio.gather(*(coalescer.submit(i) for i in range(5))) == [0, 10, 20, 30, 40]
    assert batches == [[0, 1, 2, 3, 4]]
    assert await coalescer.submit(7) == 70  # a lone request leaves on its own, at once
    assert batches[-1] == [7]


async def test_a_burst_larger_than_max_batch_is_split() -> None:
    sizes: list[int] = []

    async def send(items: list[int]) -> list[int]:
        sizes.append(len(items))
        return items

    coalescer = Coalescer(send, max_batch=4)
    assert await asyncio.gather(*(coalescer.submit(i) for i in range(10))) == list(range(10))
    assert sizes == [4, 4, 2]


async def test_a_failed_send_fails_every_request_of_its_batch_and_the_next_batch_works() -> None:
    fail = True

    async def send(items: list[int]) -> list[int]:
        if fail:
            raise ConnectionError("controller restarting")
        return items

    coalescer = Coalescer(send)
    results = await asyncio.gather(*(coalescer.submit(i) for i in range(3)), return_exceptions=True)
    assert all(isinstance(r, ConnectionError) for r in results)
    fail = False
    assert await asyncio.gather(coalescer.submit(1), coalescer.submit(2)) == [1, 2]


async def test_a_cancelled_request_does_not_disturb_its_batch_mates() -> None:
    release = asyncio.Event()

    async def send(items: list[int]) -> list[int]:
        await release.wait()
        return items

    coalescer = Coalescer(send)
    first = asyncio.ensure_future(coalescer.submit(1))
    second = asyncio.ensure_future(coalescer.submit(2))
    await asyncio.sleep(0)  # both are in the batch now
    first.cancel()
    release.set()
    assert await second == 2
    with pytest.raises(asyncio.CancelledError):
        await first


async def test_a_send_that_answers_the_wrong_number_of_results_is_an_error() -> None:
    async def send(items: list[int]) -> list[int]:
        return items[:1]

    coalescer = Coalescer(send)
    with pytest.raises(RuntimeError, match="a batch of 2 got 1 results"):
        await asyncio.gather(coalescer.submit(1), coalescer.submit(2))
