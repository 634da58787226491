"""Calls a type checker must refuse. Each line that must be an error carries a rule-specific
`pyright: ignore`; with `reportUnnecessaryTypeIgnoreComment` an error, pyright fails (in
`make lint` and tests/test_typed_handles.py) as soon as one of these lines type-checks.
"""

from __future__ import annotations

from agents import Agent, callable, get_agent


class Counter(Agent):
    @callable
    async def add(self, n: int) -> int:
        return n


async def calls() -> str:
    counter = get_agent(Counter, "a")
    await counter.add("x")  # pyright: ignore[reportArgumentType]
    await counter.add()  # pyright: ignore[reportCallIssue]
    await counter.add(1, 2)  # pyright: ignore[reportCallIssue]
    await counter.no_such()  # pyright: ignore[reportAttributeAccessIssue]
    counter.add(1).bit_length()  # pyright: ignore[reportAttributeAccessIssue]
    return await counter.add(1)  # pyright: ignore[reportReturnType]
