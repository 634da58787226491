"""Pooled hosting: many agents per host actor, with every guarantee dedicated agents have."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import threading
from collections import defaultdict

import pytest
import ray

from agents import ActivationError, Agent, InvalidHostingError, callable, configure, get_agent, list_agents
from agents.handle import handle_of
from cluster.naming import agent_key
from tests.agents_for_pooled import Blocker, Cell, Misnamed, Solo, Tiny
from tests.cluster_view import hibernated, live_activations
from tests.waiting import eventually

pytestmark = [
    pytest.mark.usefixtures("runtime"),
    pytest.mark.parametrize("store_url", ["pooled"], indirect=True),
]

AGENTS = 1000


async def _host(runtime: str, handle: object) -> tuple[str, object]:
    info = await handle_of(handle).describe()
    return info["host"], ray.get_actor(info["host"], namespace=runtime)


async def test_a_thousand_agents_share_a_few_hosts_and_survive_sigkill_of_one(runtime: str) -> None:
    prefix = f"k{random.randrange(10**9)}-"
    cells = [get_agent(Cell, f"{prefix}{i}") for i in range(AGENTS)]
    acked: dict[int, list[int]] = defaultdict(list)

    async def write(i: int, v: int) -> None:
        await cells[i].add(v)
        acked[i].append(v)

    for start in range(0, AGENTS, 100):  # one write each
        await asyncio.gather(*(write(i, 1) for i in range(start, start + 100)))
    infos = await asyncio.gather(*(handle_of(c).describe() for c in cells))
    hosts = {info["host"] for info in infos}
    assert {info["hosting"] for info in infos} == {"pooled"}
    assert 1 < len(hosts) <= 4, hosts  # a few hosts (two per node here), not a process per agent
    victim_pid = infos[0]["pid"]
    on_victim = [i for i, info in enumerate(infos) if info["pid"] == victim_pid]

    async def writer(w: int) -> None:  # load while the host dies: writes all over the fleet
        for n in range(40):
            await write(random.randrange(AGENTS), 1000 * w + n)

    load = asyncio.gather(*(writer(w) for w in range(1, 9)))
    await asyncio.sleep(0)  # let the writers start before the kill
    os.kill(victim_pid, signal.SIGKILL)
    await load
    for start in range(0, AGENTS, 100):  # every acknowledged write is there, and only once
        logs = await asyncio.gather(*(cells[i].log() for i in range(start, start + 100)))
        for i, logged in zip(range(start, start + 100), logs, strict=True):
            assert sorted(logged) == sorted(acked[i]), f"agent {i}"
    moved = await asyncio.gather(*(handle_of(cells[i]).describe() for i in on_victim[:50]))
    assert all(info["pid"] != victim_pid and info["epoch"] > 1 for info in moved)


async def test_a_woken_pooled_agent_starts_no_process(runtime: str) -> None:
    cell = get_agent(Cell, f"wake-{random.randrange(10**9)}")
    assert await cell.add(3) == 3
    first = await handle_of(cell).describe()
    _, host = await _host(runtime, cell)
    await host.drop.remote(first["key"], first["epoch"])  # hibernate it now, as idleness would
    await eventually(lambda: hibernated(runtime, first))
    assert await cell.add(1) == 4  # woken from its checkpoint
    second = await handle_of(cell).describe()
    assert second["epoch"] == first["epoch"] + 1
    pids = {
        h["pid"]
        for h in await asyncio.gather(
            *(ray.get_actor(n, namespace=runtime).load.remote() for n in (await list_agents())["hosts"])
        )
    }
    assert second["pid"] in pids  # a host that was already running


async def test_a_full_host_evicts_its_least_recently_used_idle_agents(runtime: str) -> None:
    prefix = f"tiny-{random.randrange(10**9)}-"
    tinies = [get_agent(Tiny, f"{prefix}{i}") for i in range(10)]
    for t in tinies:
        assert await t.add(1) == 1
    described = await list_agents()
    live = [k for k in described["live"] if k.startswith(f"tiny/{prefix}")]
    assert len(live) <= 3 * len(described["hosts"]) < 10  # the rest were evicted, not kept
    assert described["retirements"].get("evicted", 0) >= 10 - len(live)
    for t in tinies:  # every agent still serves, from its checkpoint
        assert await t.add(1) == 2


async def test_the_watchdog_names_the_agent_that_blocked_its_host(runtime: str) -> None:
    blocker = get_agent(Blocker, f"blocker-{random.randrange(10**9)}")
    await blocker.ping()
    _, host = await _host(runtime, blocker)
    before = len(await host.stalls.remote())
    assert await blocker.sleep_sync(1.0) == "slept"  # sync: in a worker thread, the loop runs on
    assert len(await host.stalls.remote()) == before
    assert await blocker.block(1.0) == "blocked"  # async code that blocks: the loop stops
    stalls = await host.stalls.remote()
    assert len(stalls) == before + 1
    assert stalls[-1]["key"] == agent_key("blocker", handle_of(blocker).id)
    assert stalls[-1]["method"] == "block"
    assert stalls[-1]["seconds"] >= 0.5


async def test_dedicated_and_pooled_agents_live_side_by_side(runtime: str) -> None:
    suffix = random.randrange(10**9)
    solo, cell, other = (
        get_agent(Solo, f"solo-{suffix}"),
        get_agent(Cell, f"a-{suffix}"),
        get_agent(Cell, f"b-{suffix}"),
    )
    assert await solo.ping() == "pong"
    assert await cell.add(1) == 1 and await other.add(2) == 2
    solo_info, cell_info = await handle_of(solo).describe(), await handle_of(cell).describe()
    assert (solo_info["hosting"], cell_info["hosting"]) == ("dedicated", "pooled")
    assert solo_info["pid"] != cell_info["pid"]
    assert len(await live_activations(runtime, solo_info["key"])) == 1
    assert len(await live_activations(runtime, cell_info["key"])) == 1


async def test_an_unknown_hosting_mode_is_a_clear_error(runtime: str) -> None:
    with pytest.raises(InvalidHostingError, match=r"Misnamed\.hosting must be one of dedicated, pooled"):
        await get_agent(Misnamed, "m").ping()
    with pytest.raises(InvalidHostingError, match="hosting must be one of"):
        configure(namespace=runtime, hosting="serverless")


async def test_a_pooled_class_that_cannot_be_pickled_is_refused_clearly(runtime: str) -> None:
    class Locked(Agent):  # defined here, so it travels by value, lock and all
        hosting = "pooled"
        guard = threading.Lock()

        @callable
        async def ping(self) -> str:
            return "pong"

    with pytest.raises(ActivationError, match="cannot be pickled"):
        await get_agent(Locked, "l").ping()
    assert await get_agent(Cell, f"after-{random.randrange(10**9)}").add(1) == 1  # nothing broke
    # Activations asked for at once travel in one call: the bad class must fail only its own.
    fresh = [get_agent(Cell, f"batch-{random.randrange(10**9)}-{i}") for i in range(5)]
    results = await asyncio.gather(
        get_agent(Locked, "l2").ping(), *(h.add(1) for h in fresh), return_exceptions=True
    )
    assert isinstance(results[0], ActivationError)
    assert results[1:] == [1] * 5
