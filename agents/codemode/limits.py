"""Resource limits for one Code Mode run, and the process-wide cap on concurrent runs."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pydantic


class Limits(pydantic.BaseModel):
    """What one program may use. Every backend enforces each limit it can (see the backend docstrings)."""

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")

    #: Wall-clock seconds for the whole run, tool calls included.
    timeout_s: float = pydantic.Field(default=10.0, gt=0)
    #: CPU seconds the sandbox itself may burn (time spent waiting on tools is not counted).
    cpu_s: float = pydantic.Field(default=5.0, gt=0)
    #: Memory for the program's heap and buffers, in MiB.
    memory_mb: int = pydantic.Field(default=128, ge=16)
    #: Python call depth (Monty); V8 has its own fixed stack limit.
    max_recursion_depth: int = pydantic.Field(default=200, ge=10)
    #: Tool calls per run.
    max_tool_calls: int = pydantic.Field(default=100, ge=0)
    #: Logs kept per run; the rest is dropped and the logs say so.
    max_log_bytes: int = pydantic.Field(default=64 * 1024, ge=1024)
    #: Largest single message between sandbox and host (a tool call, a tool result, the program's result).
    max_message_bytes: int = pydantic.Field(default=1024 * 1024, ge=1024)


DEFAULT_MAX_CONCURRENT_RUNS = 8

_slots = asyncio.Semaphore(DEFAULT_MAX_CONCURRENT_RUNS)


def set_max_concurrent_runs(n: int) -> None:
    """Cap how many programs run at once in this process (all agents, all backends).

    Runs already waiting keep waiting on the old cap; call this at start-up.
    """
    global _slots
    if n < 1:
        raise ValueError("max_concurrent_runs must be >= 1")
    _slots = asyncio.Semaphore(n)


@contextlib.asynccontextmanager
async def run_slot() -> AsyncIterator[None]:
    """Hold one of the process-wide run slots for the duration of a run."""
    slots = _slots
    async with slots:
        yield
