"""Threads for blocking store I/O (fsync, Redis round trips) in our actor processes.

asyncio's default executor has min(32, CPUs + 4) threads: on a 2-core machine six, so a pooled
host checkpointing hundreds of agents at once, or a controller bumping hundreds of epochs, would
queue behind six fsyncs. Store calls mostly wait on the disk or the network, not the CPU, so
many more of them can be in flight.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

#: Blocking store calls in flight at once per actor process.
IO_THREADS = 64

_installed: set[int] = set()


def use_io_threads() -> None:
    """Give the running event loop a default executor with IO_THREADS threads (idempotent)."""
    loop = asyncio.get_running_loop()
    if id(loop) not in _installed:
        loop.set_default_executor(ThreadPoolExecutor(IO_THREADS, thread_name_prefix="ray-agents-io"))
        _installed.add(id(loop))
