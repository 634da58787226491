"""Typed handles as a type checker sees them: `make lint` runs pyright here, and it must pass.

Never run: it only has to type-check (`pyright`, configured in pyproject.toml).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, assert_type

from agents import Agent, AgentHandle, SyncAgentHandle, callable, get_agent, handle_of


class Counter(Agent):
    @callable
    async def add(self, n: int) -> int:
        return n

    @callable(readonly=True)
    async def total(self) -> dict[str, int]:
        return {"count": 0}

    @callable
    async def countdown(self, start: int) -> AsyncIterator[int]:
        for i in range(start, 0, -1):
            yield i

    async def later(self) -> None:
        await self.schedule(10, self.add, 1)
        await self.queue("add", 2)
        assert_type(self.name, str)
        assert_type(self.type_name, str)
        assert_type(self.sql("SELECT :a AS a", {"a": 1}), list[dict[str, Any]])
        assert_type(self.sql_many("INSERT INTO t(a) VALUES (?)", [(1,), (2,)]), int)


async def calls() -> None:
    counter = get_agent(Counter, "a")
    assert_type(await counter.add(5), int)
    assert_type(await counter.total(), dict[str, int])
    assert_type([i async for i in counter.countdown(3)], list[int])
    handle = handle_of(counter)
    assert_type(handle, AgentHandle[Counter])
    assert_type(handle.id, str)
    assert_type(handle.sync, SyncAgentHandle[Counter])
    assert_type(await handle.describe(), dict[str, Any])
    assert_type(get_agent("Counter", "a"), AgentHandle[Any])
