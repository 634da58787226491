"""Typed events (`agents.events`), subscribed to inside the agents' own host processes: calls,
failures and checkpoints with their durations, activation and hibernation, queued runs,
WebSocket connections, name filters and unsubscribing, the environment's JSON-lines sink; and no
state in any of them."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import ray

from agents import events, get_agent
from agents.client import AgentClient
from agents.http import agent_url
from tests.agents_for_events import Observed, SleepyObserved
from tests.cluster_view import hibernated
from tests.waiting import eventually

pytestmark = [
    pytest.mark.usefixtures("runtime"),
    pytest.mark.parametrize("store_url", ["file"], indirect=True),
]


def read(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def has_lines(path: Path, n: int) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return len(read(path)) >= n

    return check


async def test_calls_failures_and_checkpoints_are_events_without_state(agent_id: str, tmp_path: Path) -> None:
    log = tmp_path / "events.jsonl"
    agent = get_agent(Observed, agent_id)
    await agent.watch(str(log))
    await agent.note("a secret note")
    with pytest.raises(Exception, match="this call fails"):
        await agent.fail()
    seen = read(log)
    by_name = {e["name"]: e for e in seen}
    assert by_name["rpc"]["data"] == {"method": "note"} and by_name["rpc"]["duration_s"] > 0
    assert by_name["rpc:error"]["data"] == {"method": "fail", "error": "RuntimeError"}
    assert by_name["checkpoint"]["data"]["bytes"] > 0 and by_name["checkpoint"]["data"]["seq"] >= 1
    assert {e["agent_type"] for e in seen} == {"observed"} and {e["agent_id"] for e in seen} == {agent_id}
    assert {e["node"] for e in seen} <= {n["NodeID"] for n in ray.nodes()}
    assert all(e["epoch"] >= 1 for e in seen)
    assert "secret" not in log.read_text()  # no state, arguments or results in events


async def test_names_filter_and_unsubscribing_stops_events(agent_id: str, tmp_path: Path) -> None:
    log = tmp_path / "errors.jsonl"
    agent = get_agent(Observed, agent_id)
    with pytest.raises(Exception, match="unknown event names"):
        await agent.watch(str(log), ["rpc:eror"])
    await agent.watch(str(log), ["rpc:error"])
    await agent.note("x")
    with pytest.raises(Exception, match="this call fails"):
        await agent.fail()
    assert [e["name"] for e in read(log)] == ["rpc:error"]
    await agent.unwatch()
    with pytest.raises(Exception, match="this call fails"):
        await agent.fail()
    assert len(read(log)) == 1


async def test_hibernation_and_the_next_activation_are_events(
    agent_id: str, tmp_path: Path, runtime: str
) -> None:
    log = tmp_path / "lifecycle.jsonl"
    agent = get_agent(SleepyObserved, agent_id)
    await agent.watch(str(log), ["hibernate", "activation", "wake"])
    info = await agent.describe()
    await eventually(lambda: hibernated(runtime, info))
    assert [e["name"] for e in read(log)] == ["hibernate"]
    await agent.note("wake up")  # a new host process; on_start subscribes again
    woke = read(log)[-1]
    assert woke["name"] == "wake" and woke["duration_s"] > 0 and woke["epoch"] > info["epoch"]
    assert woke["data"] == {"alarm": False}


async def test_queued_runs_and_their_failures_are_events(agent_id: str, tmp_path: Path) -> None:
    log = tmp_path / "queue.jsonl"
    agent = get_agent(Observed, agent_id)
    await agent.watch(str(log), ["queue:create", "queue:run", "queue:retry", "queue:error"])
    ran, failed = await agent.enqueue(False, 1), await agent.enqueue(True, 2)
    await eventually(has_lines(log, 5))
    seen = read(log)
    created = [e["data"] for e in seen if e["name"] == "queue:create"]
    assert created == [{"method": "job", "id": ran}, {"method": "job", "id": failed}]
    (run,), (retry,), (error,) = (
        [e for e in seen if e["name"] == n] for n in ("queue:run", "queue:retry", "queue:error")
    )
    assert run["data"].pop("late_s") >= 0 and run["data"] == {"method": "job", "id": ran, "attempt": 1}
    assert retry["duration_s"] > 0
    assert retry["data"] == {"method": "job", "id": failed, "attempt": 1, "error": "RuntimeError"}
    assert error["name"] == "queue:error" and error["data"]["attempt"] == 2


async def test_websocket_connections_are_events(served: str, agent_id: str, tmp_path: Path) -> None:
    log = tmp_path / "sockets.jsonl"
    await get_agent(Observed, agent_id).watch(str(log), ["connect", "disconnect"])
    client = await AgentClient(agent_url(served, "observed", agent_id).replace("http", "ws", 1)).connect()
    await client.close()
    await eventually(has_lines(log, 2))
    connected, closed = read(log)
    assert connected["name"] == "connect" and connected["data"] == {
        "connection": client.conn_id,
        "readonly": False,
    }
    assert closed["name"] == "disconnect" and closed["data"]["connection"] == client.conn_id


def test_the_environment_names_a_json_lines_sink(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What each host does when it starts (`AgentHost.__init__`), here in this process."""
    log = tmp_path / "host.jsonl"
    monkeypatch.setenv(events.LOG_VARIABLE, str(log))
    unsubscribe = events.sink_from_environment()
    assert unsubscribe is not None
    event = events.Event("evict", "observed", "a", 3, "node-1", 1.5)
    events.emit(event)
    unsubscribe()
    events.emit(event)
    assert read(log) == [event.to_json()]
    monkeypatch.delenv(events.LOG_VARIABLE)
    assert events.sink_from_environment() is None
