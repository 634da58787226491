"""Schedules, alarms that wake hibernated agents, the queue and durable jobs, on real Ray."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest
import ray

from agents import get_agent, list_agents
from agents.scheduling import InvalidScheduleError
from cluster.naming import CONTROLLER_NAME, agent_key
from tests.agents_for_scheduling import Dozer, Heartbeat, Planner, Worker, in_seconds
from tests.cluster_view import hibernated
from tests.waiting import eventually

pytestmark = pytest.mark.usefixtures("runtime")


def runs_reach(handle, expected: list[str]):
    async def check() -> bool:
        return await handle.runs() == expected

    return check


async def is_live(key: str) -> bool:
    return key in (await list_agents())["live"]


async def test_delayed_and_datetime_schedules_run_once_then_are_deleted(agent_id: str) -> None:
    planner = get_agent(Planner, agent_id)
    await planner.after(0.2, "delayed")
    await planner.at(in_seconds(0.3), "dated")
    assert {s["kind"] for s in await planner.schedules()} == {"delayed", "scheduled"}
    await eventually(runs_reach(planner, ["delayed", "dated"]))
    assert await planner.schedules() == []


async def test_cron_schedule_repeats_until_cancelled(agent_id: str) -> None:
    planner = get_agent(Planner, agent_id)
    schedule_id = await planner.cron("* * * * * *", "tick")  # every second (seconds field first)

    async def ticked_twice() -> bool:
        return len(await planner.runs()) >= 2

    await eventually(ticked_twice, timeout=10)
    assert await planner.cancel(schedule_id) is True
    assert await planner.cancel(schedule_id) is False
    assert await planner.schedules() == []


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("cron", "invalid cron"),
        ("zone", "unknown time zone"),
        ("naive", "without a time zone"),
        ("method", "no method 'no_such_method'"),
        ("payload", "cannot be serialized"),
        ("negative", "negative"),
        ("interval", "positive"),
    ],
)
async def test_invalid_schedules_are_refused_and_nothing_is_stored(
    agent_id: str, kind: str, message: str
) -> None:
    planner = get_agent(Planner, agent_id)
    with pytest.raises(InvalidScheduleError, match=message):
        await planner.bad_schedule(kind)
    assert await planner.schedules() == []
    assert await planner.runs() == []


async def test_failing_run_is_retried_with_backoff_until_it_succeeds(agent_id: str) -> None:
    planner = get_agent(Planner, agent_id)
    schedule_id = await planner.flaky_after(0.0, 0.25, "finally")

    async def retried() -> bool:
        return any(s["id"] == schedule_id and s["attempts"] >= 1 for s in await planner.schedules())

    await eventually(retried)
    await eventually(runs_reach(planner, ["finally"]))
    assert await planner.schedules() == []  # deleted only after its run succeeded


async def test_run_that_keeps_failing_is_given_up_and_kept_as_failed(agent_id: str) -> None:
    planner = get_agent(Planner, agent_id)
    await planner.doomed()

    async def failed() -> bool:
        return [(s["status"], s["attempts"]) for s in await planner.schedules()] == [("failed", 4)]

    await eventually(failed)
    assert await planner.runs() == []


async def test_a_failing_run_keeps_what_the_runs_before_it_in_its_batch_did(agent_id: str) -> None:
    planner = get_agent(Planner, agent_id)
    await planner.record_then_fail("kept")
    await eventually(lambda: _failed_once(planner))
    assert await planner.runs() == ["kept"]  # its queue entry is gone: its state change must stay


async def _failed_once(planner: Planner) -> bool:
    return [s["attempts"] for s in await planner.schedules()] >= [1]


async def test_schedule_every_in_on_start_is_idempotent_across_wakes(runtime: str, agent_id: str) -> None:
    heart = get_agent(Heartbeat, agent_id)
    key = agent_key("heartbeat", agent_id)
    first = await heart.describe()
    for _ in range(2):  # hibernate, then wake by a call: on_start runs schedule_every again
        await eventually(lambda info=first: hibernated(runtime, info))
        info = await heart.info()
        assert info["intervals"] == 1
        first = await heart.describe()
    assert key in (await list_agents())["live"]


async def test_alarm_wakes_a_hibernated_agent(runtime: str, agent_id: str) -> None:
    dozer = get_agent(Dozer, agent_id)
    key = agent_key("dozer", agent_id)
    # Far enough out that the agent hibernates before the controller wakes it ahead of time.
    await dozer.after(6.0, "woken")
    first = await dozer.describe()
    await eventually(lambda: hibernated(runtime, first))
    await eventually(lambda: is_live(key))  # the alarm woke it (ahead of time): nobody called
    assert (await dozer.describe())["epoch"] == first["epoch"] + 1
    await eventually(runs_reach(dozer, ["woken"]))


async def test_alarm_survives_sigkill_of_the_agent(agent_id: str) -> None:
    planner = get_agent(Planner, agent_id)
    await planner.after(1.0, "after-kill")
    victim = await planner.describe()
    os.kill(victim["pid"], signal.SIGKILL)
    key = agent_key("planner", agent_id)

    async def reactivated() -> bool:
        live = (await list_agents())["live"]
        return key in live and live[key]["epoch"] > victim["epoch"]

    await eventually(reactivated)  # the controller noticed the overdue alarm of a dead agent
    await eventually(runs_reach(planner, ["after-kill"]))


async def test_alarm_survives_sigkill_of_the_controller(runtime: str, agent_id: str) -> None:
    dozer = get_agent(Dozer, agent_id)
    key = agent_key("dozer", agent_id)
    await dozer.after(6.0, "after-controller-kill")
    first = await dozer.describe()
    await eventually(lambda: hibernated(runtime, first))
    ray.kill(ray.get_actor(CONTROLLER_NAME, namespace=runtime), no_restart=False)
    await eventually(lambda: is_live(key))  # the restarted controller woke it
    await eventually(runs_reach(dozer, ["after-controller-kill"]))


async def test_queue_runs_in_order_after_the_turn(agent_id: str) -> None:
    planner = get_agent(Planner, agent_id)
    labels = [f"item-{i}" for i in range(5)]
    await planner.enqueue(labels)
    await eventually(runs_reach(planner, labels))


async def test_durable_job_resumes_at_the_step_a_crash_interrupted(agent_id: str, tmp_path: Path) -> None:
    worker = get_agent(Worker, agent_id)
    marks = tmp_path / "marks"
    await worker.submit(str(marks), 30.0)

    async def in_step_two() -> bool:
        return marks.exists() and "two" in marks.read_text().split()

    await eventually(in_step_two)
    os.kill((await worker.describe())["pid"], signal.SIGKILL)

    async def finished() -> bool:
        report = await asyncio.wait_for(worker.report(), timeout=60)
        return report["results"] == ["one-done", "two-done", "three-done"]

    # The restarted agent drains its queue: the job re-runs, skipping the finished step one.
    await eventually(finished, timeout=30)
    assert marks.read_text().split() == ["one", "two", "two", "three"]
    assert (await worker.report())["recovered"] == ["order-1"]
