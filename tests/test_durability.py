"""Single activation, crash recovery, fencing and hibernation, on a real Ray runtime."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3

import pytest
import ray

from agents import ActivationError, get_agent, list_agents
from cluster import routing
from cluster.naming import CONTROLLER_NAME, agent_key
from cluster.stores import open_store
from tests.agents_under_test import Archive, BrokenStart, Counter, Sleepy
from tests.cluster_view import live_activations
from tests.waiting import eventually, pid_alive

pytestmark = pytest.mark.usefixtures("runtime")


async def test_fifty_concurrent_first_calls_activate_exactly_once(runtime: str, agent_id: str) -> None:
    counter = get_agent(Counter, agent_id)
    results = await asyncio.gather(*(counter.add(1) for _ in range(50)))
    assert sorted(results) == list(range(1, 51))
    assert (await counter.get())["starts"] == 1  # on_start ran once
    assert (await counter.describe())["epoch"] == 1
    assert len(await live_activations(runtime, agent_key("counter", agent_id))) == 1


async def test_acked_writes_survive_sigkill(agent_id: str) -> None:
    counter = get_agent(Counter, agent_id)
    acked = []
    for round_ in range(3):
        for n in range(1, 4):
            await counter.add(n)
            acked.append(n)
        info = await counter.describe()
        os.kill(info["pid"], signal.SIGKILL)
        after = await counter.describe()
        assert after["epoch"] > info["epoch"], f"round {round_}: not re-activated"
    assert await counter.logged() == acked
    state = await counter.get()
    assert state["count"] == sum(acked)
    assert state["starts"] == 4  # one activation per kill, plus the first


async def test_calls_racing_sigkills_lose_nothing_and_run_once(agent_id: str) -> None:
    counter = get_agent(Counter, agent_id)
    await counter.add(0)
    acked: list[int] = []
    done = asyncio.Event()

    async def writer(offset: int) -> None:
        for i in range(15):
            value = offset + i
            await counter.add(value)
            acked.append(value)

    async def killer() -> None:
        for _ in range(4):
            await asyncio.sleep(0.3)
            if done.is_set():
                return
            os.kill((await counter.describe())["pid"], signal.SIGKILL)

    writers = asyncio.gather(*(writer(1000 * w) for w in range(1, 4)))
    kills = asyncio.ensure_future(killer())
    await writers
    done.set()
    await kills
    logged = await counter.logged()
    assert sorted(logged) == sorted([0, *acked])  # every acked write is there, and only once
    assert (await counter.get())["count"] == sum(acked)


async def test_killed_controller_rebuilds_without_duplicates(runtime: str, agent_id: str) -> None:
    counter = get_agent(Counter, agent_id)
    await counter.add(2)
    before = await counter.describe()
    controller = ray.get_actor(CONTROLLER_NAME, namespace=runtime)
    ray.kill(controller, no_restart=False)  # Ray restarts it; its in-memory view is gone
    routing.router().forget(Counter, agent_id)  # force this caller through the new controller
    assert await counter.add(3) == 5
    after = await counter.describe()
    assert (after["pid"], after["epoch"]) == (before["pid"], before["epoch"])  # adopted, not duplicated
    assert len(await live_activations(runtime, agent_key("counter", agent_id))) == 1
    assert agent_key("counter", agent_id) in (await list_agents())["live"]


async def test_zombie_activation_cannot_overwrite_newer_state(
    runtime: str, store_url: str, agent_id: str
) -> None:
    counter = get_agent(Counter, agent_id)
    await counter.add(1)
    zombie = await counter.describe()
    store = open_store(store_url, runtime)
    store.bump_epoch(zombie["key"])  # a newer activation was granted behind the zombie's back
    # The zombie's checkpoint is refused; the call is retried on a fresh activation, applied once.
    assert await counter.add(10) == 11
    fresh = await counter.describe()
    assert fresh["epoch"] > zombie["epoch"] + 1
    assert (await live_activations(runtime, zombie["key"])) == [(fresh["host"], fresh["epoch"])]
    if zombie["hosting"] == "dedicated":
        assert fresh["pid"] != zombie["pid"]
    assert await counter.logged() == [1, 10]


async def test_idle_agent_hibernates_and_wakes_with_its_state(runtime: str, agent_id: str) -> None:
    sleepy = get_agent(Sleepy, agent_id)
    assert await sleepy.add(4) == 4
    first = await sleepy.describe()
    key = agent_key("sleepy", agent_id)

    async def hibernated() -> bool:
        gone = key not in (await list_agents())["live"] and not await live_activations(runtime, key)
        return gone and (first["hosting"] == "pooled" or not pid_alive(first["pid"]))

    await eventually(hibernated)
    assert ("sleepy", agent_id) in (await list_agents())["hibernated"]
    assert await sleepy.add(1) == 5  # woken transparently
    second = await sleepy.describe()
    assert second["epoch"] == first["epoch"] + 1
    if first["hosting"] == "dedicated":
        assert second["pid"] != first["pid"]


async def test_failing_on_start_is_a_clear_error_and_leaves_nothing_running(
    runtime: str, agent_id: str
) -> None:
    broken = get_agent(BrokenStart, agent_id)
    for _ in range(2):  # not stuck: each call tries again and fails the same clear way
        with pytest.raises(ActivationError, match="cannot start"):
            await broken.ping()
    assert await live_activations(runtime, agent_key("broken-start", agent_id)) == []


async def test_a_database_that_grows_changes_schema_and_shrinks_survives_sigkill_at_each_step(
    agent_id: str,
) -> None:
    archive = get_agent(Archive, agent_id)

    async def kill_and_summarize() -> dict:
        before = await archive.summary()
        info = await archive.describe()
        os.kill(info["pid"], signal.SIGKILL)  # what the store holds is all there is now
        after = await archive.summary()
        assert (await archive.describe())["epoch"] > info["epoch"]
        assert after == before
        return after

    await archive.grow(20)  # ~20 MiB: its chunk list spans several segments
    grown = await kill_and_summarize()
    assert (grown["n"], grown["bytes"]) == (20_000, 20_000_000)
    await archive.reshape()
    reshaped = await kill_and_summarize()
    assert reshaped["columns"] == ["id", "body", "tag"] and reshaped["indexes"] == ["blobs_tag"]
    await archive.shrink(500)
    with pytest.raises(sqlite3.OperationalError, match="VACUUM must be a turn's first statement"):
        await archive.delete_then_vacuum()
    assert (await archive.summary())["n"] == 500  # that turn was rolled back whole
    await archive.compact()
    shrunk = await kill_and_summarize()
    assert shrunk["n"] == 500 and shrunk["pages"] < grown["pages"] // 10  # VACUUM gave the pages back
    await archive.grow(1)  # and it keeps growing from the smaller image
    assert (await kill_and_summarize())["n"] == 1500
