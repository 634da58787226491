"""Resource limits for one Code Mode run, and the caps on concurrent runs (per process, per node)."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Literal

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
    #: Tool calls per run; one more ends the run (`CodeResult.limit == "max_tool_calls"`).
    max_tool_calls: int = pydantic.Field(default=100, ge=0)
    #: Tool calls in flight at once; the next waits for one to finish (Deno: the host stops reading).
    max_parallel_tool_calls: int = pydantic.Field(default=16, ge=1)
    #: Logs kept per run; the rest is dropped and the logs say so.
    max_log_bytes: int = pydantic.Field(default=64 * 1024, ge=1024)
    #: Largest single message between sandbox and host: a tool call's arguments, a tool's result, the
    #: program's result (larger: an error) and its error text (cut to this size).
    max_message_bytes: int = pydantic.Field(default=1024 * 1024, ge=1024)


#: The `Limits` field that ended a run (`CodeResult.limit`); "timeout_s" also covers waiting for a slot.
LimitName = Literal["timeout_s", "max_tool_calls", "max_message_bytes"]


class LimitExceeded(Exception):
    """A limit ended the run: `limit` names the `Limits` field, the message says what happened."""

    def __init__(self, limit: LimitName, message: str) -> None:
        super().__init__(message)
        self.limit: LimitName = limit


DEFAULT_MAX_CONCURRENT_RUNS = 8
#: Sandboxes at once on one machine, across every agent process: each agent is its own process,
#: so the per-process cap alone would not bound a node. `RAY_AGENTS_CODEMODE_NODE_SLOTS` overrides.
NODE_SLOTS = int(os.environ.get("RAY_AGENTS_CODEMODE_NODE_SLOTS") or 2 * (os.cpu_count() or 1))
_SLOT_DIR = Path(tempfile.gettempdir()) / "ray-agents-codemode-slots"

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
async def run_slot(deadline: float) -> AsyncIterator[None]:
    """Hold a process-wide and a node-wide run slot for the duration of a run.

    Waiting for them ends at `deadline` (event-loop time) with TimeoutError: the wait counts against
    the run's own `timeout_s`, so a node full of hanging programs cannot hold a benign run longer."""
    slots = _slots
    async with asyncio.timeout_at(deadline):
        await slots.acquire()
        try:
            fd = await _node_slot()
        except BaseException:
            slots.release()
            raise
    try:
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
        slots.release()


async def _node_slot() -> int:
    """One of NODE_SLOTS lock files, held with flock (the descriptor is returned): the kernel releases
    it if the process dies, so a crashed agent never leaks a slot. Other processes give no event to
    await: poll briefly."""
    _SLOT_DIR.mkdir(exist_ok=True)
    while True:
        for index in range(NODE_SLOTS):
            fd = os.open(_SLOT_DIR / f"{index}.lock", os.O_CREAT | os.O_RDWR, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            return fd
        await asyncio.sleep(0.02)
