"""Long fault injection (`make chaos`): writers keep calling while agent processes and the
controller are SIGKILLed at random. Invariant: every acknowledged write is present exactly once."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import time

import pytest
import ray

from agents import AgentUnavailableError, get_agent
from cluster.naming import CONTROLLER_NAME
from tests.agents_under_test import Counter

pytestmark = [pytest.mark.chaos, pytest.mark.usefixtures("runtime")]

DURATION = float(os.environ.get("CHAOS_SECONDS", "60"))
#: (agents, writers per agent): spread over a few agents, and 16 writers on ONE agent, so
#: consecutive turns share checkpoints (group commit) when its process is killed mid-batch.
SHAPES = {"spread": (6, 2), "one-agent": (1, 16)}


@pytest.mark.parametrize("shape", list(SHAPES))
async def test_acked_writes_survive_random_kills(runtime: str, agent_id: str, shape: str) -> None:
    agents, writers_per_agent = SHAPES[shape]
    handles = [get_agent(Counter, f"{agent_id}-{i}") for i in range(agents)]
    acked: dict[str, list[int]] = {h.id: [] for h in handles}
    refused = 0
    stop = time.monotonic() + DURATION

    async def writer(handle, offset: int) -> None:
        nonlocal refused
        value = offset
        while time.monotonic() < stop:
            value += 1
            try:
                await handle.add(value)
            except AgentUnavailableError:  # gave up after retries: not acknowledged, may or may not apply
                refused += 1
                continue
            acked[handle.id].append(value)

    async def killer() -> int:
        kills = 0
        rng = random.Random(7)
        while time.monotonic() < stop:
            await asyncio.sleep(rng.uniform(0.2, 1.0))
            if rng.random() < 0.1:
                ray.kill(ray.get_actor(CONTROLLER_NAME, namespace=runtime), no_restart=False)
            else:
                victim = rng.choice(handles)
                try:
                    os.kill((await victim.describe())["pid"], signal.SIGKILL)
                except ProcessLookupError:
                    pass
            kills += 1
        return kills

    tasks = [writer(h, 1_000_000 * w) for h in handles for w in range(1, writers_per_agent + 1)]
    *_, kills = await asyncio.gather(*tasks, killer())
    total_acked = 0
    for handle in handles:
        logged = await handle.logged()
        assert len(logged) == len(set(logged)), f"{handle.id}: a write was applied twice"
        missing = set(acked[handle.id]) - set(logged)
        assert not missing, f"{handle.id}: acknowledged writes lost: {sorted(missing)[:5]}"
        total_acked += len(acked[handle.id])
    print(
        f"\nchaos[{runtime}, {shape}]: {DURATION:.0f} s, {kills} kills, {total_acked} acked writes, "
        f"{refused} refused after retries, 0 lost, 0 duplicated"
    )
