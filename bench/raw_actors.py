"""Plain Ray actors: the baselines ray-agents is measured against. Imports nothing of ray-agents."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import msgpack


class RawCounter:
    """Plain async Ray actor with the same methods as `BenchCounter`, state in memory only.

    `add_durable` does the minimum a durable counter needs (write, fsync, rename, fsync the
    directory): the floor under the agent's checkpointed `add`.
    """

    def __init__(self, directory: str | None = None) -> None:
        self.count = 0
        self.directory = Path(directory) if directory else None

    async def invoke(
        self, method: str, args: tuple, kwargs: dict, request_id: str | None, chain: tuple
    ) -> tuple:
        """The shape of an agent call (method name, args, kwargs, request id, call chain in; an
        ("ok", value) envelope out), to separate Ray's cost of that shape from the runtime's."""
        return ("ok", await getattr(self, method)(*args, **kwargs))

    async def invoke_packed(self, call: tuple) -> tuple:
        """`invoke` with its five arguments packed into one (a candidate for the agent call)."""
        return await self.invoke(*call)

    async def invoke_bytes(self, call: bytes) -> bytes:
        """`invoke` as the agent hot path sends it: one pickled bytes argument naming the call,
        one pickled bytes reply. Ray charges ~0.1 ms for carrying any argument at all, so this,
        not an argument-less `get()`, is the floor of a call that has to say what it calls."""
        method, args, kwargs, request_id, chain = pickle.loads(call)
        return pickle.dumps(await self.invoke(method, args, kwargs, request_id, chain), protocol=5)

    async def get(self) -> int:
        return self.count

    async def add(self, n: int) -> int:
        self.count += n
        return self.count

    async def add_durable(self, n: int) -> int:
        assert self.directory is not None, "created without a directory"
        self.count += n
        path = self.directory / "state"
        tmp = self.directory / ".state.tmp"
        with open(tmp, "wb") as f:
            f.write(msgpack.packb({"count": self.count}))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        return self.count

    async def pid(self) -> int:
        return os.getpid()
