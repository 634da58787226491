"""Threads for blocking store I/O (fsync, Redis round trips) in our actor processes.

asyncio's default executor has min(32, CPUs + 4) threads: on a 2-core machine six, so a pooled
host checkpointing hundreds of agents at once, or a controller bumping hundreds of epochs, would
queue behind six fsyncs. Store calls mostly wait on the disk or the network, not the CPU, so
many more of them can be in flight.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")

#: Blocking store calls in flight at once per actor process.
IO_THREADS = 64

#: Sync `@callable` methods of pooled agents run here, apart from store I/O: user code that
#: blocks (or calls another agent synchronously) must never starve checkpoints of threads.
USER_THREADS = 32

_installed: set[int] = set()
_user_pool: ThreadPoolExecutor | None = None


async def run_user_sync(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a user's sync function in the user thread pool, in the caller's context (call chain).
    Not abandoned if the caller is cancelled: the caller waits for the thread to finish, so a
    cancelled turn is rolled back only once nothing of it is still running."""
    global _user_pool
    if _user_pool is None:
        _user_pool = ThreadPoolExecutor(USER_THREADS, thread_name_prefix="ray-agents-user")
    context = contextvars.copy_context()
    future = asyncio.get_running_loop().run_in_executor(
        _user_pool, functools.partial(context.run, function, *args, **kwargs)
    )
    return await run_to_completion(future)


def use_io_threads() -> None:
    """Give the running event loop a default executor with IO_THREADS threads (idempotent)."""
    loop = asyncio.get_running_loop()
    if id(loop) not in _installed:
        loop.set_default_executor(ThreadPoolExecutor(IO_THREADS, thread_name_prefix="ray-agents-io"))
        _installed.add(id(loop))


async def run_to_completion(awaitable: Awaitable[T]) -> T:
    """Await to the end even if the caller is cancelled meanwhile (then re-raise the cancellation):
    for steps that must not stop half-way, like writing a checkpoint or a user's thread."""
    task = asyncio.ensure_future(awaitable)
    cancelled = False
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            if task.cancelled():
                raise
            cancelled = True
    if cancelled:
        raise asyncio.CancelledError
    return task.result()
