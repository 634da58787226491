"""Telemetry read from outside the agents: each host's event feed (`agents.runtime.agent_events`),
followed across a hibernation, with dedicated and pooled hosting; Code Mode's events; and the
Prometheus metrics at the session's Ray metrics endpoint (`tests.conftest.METRICS_PORT`)."""

from __future__ import annotations

import asyncio
import re
import urllib.request
from typing import Any

import pytest

from agents import get_agent
from agents.runtime import agent_events
from tests.agents_for_codemode import Librarian
from tests.agents_for_events import SleepyWatched, Watched
from tests.cluster_view import hibernated
from tests.conftest import METRICS_PORT
from tests.waiting import eventually

pytestmark = pytest.mark.usefixtures("runtime")
both_hostings = pytest.mark.parametrize("store_url", ["file", "pooled"], indirect=True)
file_store = pytest.mark.parametrize("store_url", ["file"], indirect=True)


def names(found: dict[str, Any]) -> list[str]:
    return [e["name"] for e in found["events"]]


@both_hostings
async def test_an_agents_events_are_read_from_its_host_and_waited_for(agent_id: str) -> None:
    agent = get_agent(Watched, agent_id)
    await agent.note()
    with pytest.raises(ValueError):
        await agent.fail()
    found = await agent_events("watched", agent_id)
    assert found["live"] and {e["agent_id"] for e in found["events"]} == {agent_id}  # no host-mates'
    assert names(found)[0] == "activation"
    assert {"rpc", "rpc:error", "state:update", "checkpoint"} <= set(names(found))
    update = next(e for e in found["events"] if e["name"] == "state:update")
    assert update["data"]["source"] == "server" and update["data"]["bytes"] > 0
    assert found["last"] == found["events"][-1]["n"]
    assert (await agent_events("watched", agent_id, found["last"]))["events"] == []
    waiting = asyncio.create_task(agent_events("watched", agent_id, found["last"], wait_s=30))
    await agent.note()
    later = await asyncio.wait_for(waiting, 20)  # the call's events end the wait
    assert "state:update" in names(later) and later["events"][0]["n"] > found["last"]


@both_hostings
async def test_a_hibernated_agent_has_no_events_until_it_wakes(agent_id: str, runtime: str) -> None:
    agent = get_agent(SleepyWatched, agent_id)
    await agent.note()
    info = await agent.describe()
    before = await agent_events("sleepy-watched", agent_id)
    await eventually(lambda: hibernated(runtime, info))
    asleep = await agent_events("sleepy-watched", agent_id)
    assert asleep == {"events": [], "last": 0, "source": None, "live": False}
    await agent.note()
    found = await agent_events("sleepy-watched", agent_id, before["last"], source=before["source"])
    woke = next(e for e in found["events"] if e["name"] == "wake")
    assert woke["epoch"] > info["epoch"] and woke["data"] == {"alarm": False}


@file_store
async def test_code_mode_runs_and_failures_are_events(agent_id: str) -> None:
    librarian = get_agent(Librarian, agent_id)
    await librarian.program("await add_book(title='Dune', year=1965)", "python")
    with pytest.raises(Exception, match=r"NameError|not defined"):
        await librarian.program("no_such_name", "python")
    found = await agent_events("librarian", agent_id)
    ran, failed = (
        next(e for e in found["events"] if e["name"] == n) for n in ("codemode:run", "codemode:error")
    )
    assert ran["data"] == {"language": "python"} and ran["duration_s"] > 0
    assert failed["data"] == {"language": "python", "error": "error"}


def scrape() -> list[tuple[str, dict[str, str], float]]:
    """The session's Ray metrics endpoint, parsed: (name, labels, value) per sample line."""
    body = urllib.request.urlopen(f"http://127.0.0.1:{METRICS_PORT}/metrics", timeout=5).read().decode()
    samples = []
    for line in body.splitlines():
        match = re.fullmatch(r"(ray_agents_\w+)\{(.*)\} (\S+)", line)
        if match:
            labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match[2]))
            samples.append((match[1], labels, float(match[3])))
    return samples


def total(samples: list[tuple[str, dict[str, str], float]], name: str, **labels: str) -> float:
    return sum(v for n, found, v in samples if n == name and labels.items() <= found.items())


@file_store
async def test_metrics_appear_at_rays_metrics_endpoint(agent_id: str) -> None:
    agent = get_agent(Watched, agent_id)
    for _ in range(3):
        await agent.note()
    with pytest.raises(ValueError):
        await agent.fail()
    seen: list[tuple[str, dict[str, str], float]] = []

    async def exported() -> bool:  # Ray exports every few seconds
        seen[:] = await asyncio.to_thread(scrape)
        return total(seen, "ray_agents_calls_total", agent_type="watched", method="note", outcome="ok") >= 3

    await eventually(exported, timeout=60)
    watched = {"agent_type": "watched"}
    assert total(seen, "ray_agents_call_errors_total", **watched, method="fail", code="ValueError") >= 1
    assert total(seen, "ray_agents_turn_seconds_count", **watched, method="note") >= 3
    assert total(seen, "ray_agents_turn_seconds_bucket", **watched, method="note", le="+Inf") >= 3
    assert total(seen, "ray_agents_checkpoint_bytes_total", **watched) > 0
    assert total(seen, "ray_agents_checkpoint_seconds_count", **watched) >= 3
    assert total(seen, "ray_agents_lifecycle_total", **watched, event="activation") >= 1
    live = [labels for name, labels, value in seen if name == "ray_agents_live" and value >= 1]
    assert live and all(labels["WorkerId"] for labels in live)  # Ray's label: the host process
