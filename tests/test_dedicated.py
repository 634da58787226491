"""Dedicated hosting: spare hosts started ahead (wakes without a process start), and the per-node cap."""

from __future__ import annotations

import os
import random
import signal
from collections.abc import Iterator

import pytest
import ray

from agents import HostFullError, get_agent, list_agents
from agents.handle import handle_of
from cluster import routing
from cluster.config import RuntimeConfig
from cluster.naming import CONTROLLER_NAME, DEDICATED_PREFIX
from tests.agents_under_test import Counter
from tests.waiting import eventually, pid_alive

pytestmark = [
    pytest.mark.usefixtures("runtime"),
    pytest.mark.parametrize("store_url", ["file"], indirect=True),
]


def _new_id() -> str:
    return f"d{random.randrange(10**9)}"


async def _spares() -> list[str]:
    return [name for names in (await list_agents())["spares"].values() for name in names]


async def test_a_new_dedicated_agent_starts_on_the_spare_started_ahead_and_a_new_spare_follows() -> None:
    await get_agent(Counter, _new_id()).add(1)  # the node has had a dedicated agent: spares exist
    [spare] = await _spares()
    await ray.get_actor(spare, namespace=(await _namespace())).load.remote()  # it is up
    fresh = get_agent(Counter, _new_id())
    assert await fresh.add(5) == 5
    info = await handle_of(fresh).describe()
    assert info["host"] == spare and info["hosting"] == "dedicated"
    [replacement] = await _spares()
    assert replacement != spare and replacement.startswith(DEDICATED_PREFIX)


async def test_a_spare_that_died_is_passed_over_and_the_activation_still_succeeds() -> None:
    await get_agent(Counter, _new_id()).add(1)
    [spare] = await _spares()
    namespace = await _namespace()
    pid = (await ray.get_actor(spare, namespace=namespace).load.remote())["pid"]
    os.kill(pid, signal.SIGKILL)
    await eventually(lambda: _exited(pid))
    fresh = get_agent(Counter, _new_id())
    assert await fresh.add(2) == 2
    assert (await handle_of(fresh).describe())["host"] != spare


async def _namespace() -> str:
    return routing.router().config.namespace


async def _exited(pid: int) -> bool:
    return not pid_alive(pid)


@pytest.fixture
def capped(file_store_url: str) -> Iterator[str]:
    """A deployment of its own whose nodes carry at most two live dedicated agents."""
    namespace = f"t-cap-{random.randrange(10**9)}"
    previous = routing.router().config
    routing.configure(RuntimeConfig(namespace=namespace, store_url=file_store_url, max_dedicated_per_node=2))
    yield namespace
    routing.configure(previous)
    for entry in ray.util.list_named_actors(all_namespaces=True):
        if entry["namespace"] == namespace:
            ray.kill(ray.get_actor(entry["name"], namespace=namespace), no_restart=True)


async def test_past_the_per_node_cap_a_new_dedicated_agent_is_refused_clearly_and_nothing_breaks(
    capped: str,
) -> None:
    first, second = get_agent(Counter, "one"), get_agent(Counter, "two")
    assert await first.add(1) == 1 and await second.add(1) == 1
    with pytest.raises(HostFullError, match="cap of live dedicated agents"):
        await get_agent(Counter, "three").add(1)
    assert await first.add(1) == 2  # the live ones keep serving
    await first.wipe()  # one leaves: there is room again
    controller = ray.get_actor(CONTROLLER_NAME, namespace=capped)
    await eventually(lambda: _gone(controller, "counter/one"))
    assert await get_agent(Counter, "three").add(3) == 3


async def _gone(controller: object, key: str) -> bool:
    return key not in (await controller.describe.remote())["live"]  # type: ignore[attr-defined]
