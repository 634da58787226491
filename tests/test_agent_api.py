"""The Agent API: state, SQL, callables, turns, rollback, streaming, bad input."""

from __future__ import annotations

import asyncio
import threading

import pytest

from agents import (
    ActivationError,
    AgentHandle,
    InvalidAgentIdError,
    InvalidArgumentsError,
    InvalidStateError,
    NotCallableError,
    ReadOnlyError,
    ReentrantCallError,
    SyncAgentHandle,
    UnknownAgentClassError,
    UnknownMethodError,
    get_agent,
    handle_of,
)
from tests.agents_under_test import Caller, CallsBackOnStart, Counter, Ledger, Profile, Reminders
from tests.waiting import eventually

pytestmark = pytest.mark.usefixtures("runtime")


async def test_state_and_sql_persist_across_calls(agent_id: str) -> None:
    counter = get_agent(Counter, agent_id)
    assert await counter.add(5) == 5
    assert await counter.add(7) == 12
    assert await counter.logged() == [5, 7]
    assert await counter.get() == {"count": 12, "starts": 1}


async def test_turns_never_interleave(agent_id: str) -> None:
    counter = get_agent(Counter, agent_id)
    results = await asyncio.gather(*(counter.slow_increment() for _ in range(20)))
    assert sorted(results) == list(range(1, 21))
    assert (await counter.get())["count"] == 20


async def test_failed_turn_rolls_back_state_and_sql_and_keeps_serving(agent_id: str) -> None:
    counter = get_agent(Counter, agent_id)
    await counter.add(1)
    with pytest.raises(KeyError, match="failing after adding 10"):
        await counter.add_then_fail(10)
    assert await counter.get() == {"count": 1, "starts": 1}
    assert await counter.logged() == [1]
    assert await counter.add(2) == 3


async def test_pydantic_state_is_validated_and_refusals_leave_it_untouched(agent_id: str) -> None:
    profile = get_agent(Profile, agent_id)
    assert await profile.update("ada", 36) == {"name": "ada", "age": 36}
    with pytest.raises(InvalidStateError, match="age"):
        await profile.update("ada", -1)
    with pytest.raises(ValueError, match="not allowed"):
        await profile.rename("forbidden")
    assert await profile.update("grace", 40) == {"name": "grace", "age": 40}


async def test_on_state_update_runs_after_each_persisted_change(agent_id: str) -> None:
    profile = get_agent(Profile, agent_id)
    await profile.update("ada", 36)
    await profile.rename("ada l.")
    with pytest.raises(ValueError):
        await profile.rename("forbidden")
    assert await profile.updates() == [{"name": "ada", "age": 36}, {"name": "ada l.", "age": 36}]


async def test_unserializable_state_is_refused(agent_id: str) -> None:
    counter = get_agent(Counter, agent_id)
    await counter.add(3)
    with pytest.raises(InvalidStateError, match="cannot be serialized"):
        await counter.set_unserializable()
    assert (await counter.get())["count"] == 3


async def test_readonly_method_that_writes_is_refused_and_rolled_back(agent_id: str) -> None:
    counter = get_agent(Counter, agent_id)
    await counter.add(4)
    with pytest.raises(ReadOnlyError):
        await counter.sneaky_write()
    assert await counter.logged() == [4]


async def test_bad_calls_get_typed_errors_and_agent_keeps_serving(agent_id: str) -> None:
    counter = get_agent(Counter, agent_id)
    await counter.add(1)
    with pytest.raises(UnknownMethodError, match="no_such"):
        await get_agent("counter", agent_id).no_such()
    with pytest.raises(NotCallableError, match="not_exposed"):
        await get_agent("counter", agent_id).not_exposed()
    with pytest.raises(UnknownMethodError):
        _ = counter.no_such  # refused locally when the class is known
    with pytest.raises(InvalidArgumentsError, match="valid integer"):
        await counter.add("five")
    with pytest.raises(InvalidArgumentsError, match="missing a required argument"):
        await counter.add()
    with pytest.raises(InvalidArgumentsError, match="too many"):
        await counter.add(1, 2)
    with pytest.raises(UnknownAgentClassError, match="Nope"):
        await get_agent("Nope", agent_id).add(1)
    for bad in ("", "x" * 300, "a\nb", "a\udcff"):
        with pytest.raises(InvalidAgentIdError):
            get_agent(Counter, bad)
    for not_an_int in ("0", False, 1.0):  # strict: no coercion between JSON's types
        with pytest.raises(InvalidArgumentsError, match="valid integer"):
            await counter.add(not_an_int)
    assert await counter.add(1) == 2


async def test_ids_with_slashes_and_unicode_are_distinct_agents(agent_id: str) -> None:
    a, b = get_agent(Counter, f"{agent_id}/x y"), get_agent(Counter, f"{agent_id}%2Fx y")
    assert await a.add(1) == 1
    assert await b.add(5) == 5
    assert await get_agent(Counter, f"{agent_id}-ü✓").add(2) == 2
    assert (await a.get())["count"] == 1


async def test_agents_call_other_agents(agent_id: str) -> None:
    assert await get_agent(Caller, agent_id).add_to(f"{agent_id}-c", 9) == 9
    assert (await get_agent(Counter, f"{agent_id}-c").get())["count"] == 9


async def test_call_chain_back_into_a_busy_agent_fails_fast(agent_id: str) -> None:
    first = get_agent(Caller, agent_id)
    with pytest.raises(ReentrantCallError, match="re-enters"):
        await asyncio.wait_for(first.bounce(f"{agent_id}-b"), timeout=30)
    assert await first.hello() == f"hello from {agent_id}"


async def test_call_back_into_an_agent_still_starting_fails_fast(agent_id: str) -> None:
    with pytest.raises(ActivationError, match="re-enters"):
        await asyncio.wait_for(get_agent(CallsBackOnStart, agent_id).ping(), timeout=60)


async def test_streaming_method_yields_items_and_commits_at_end(agent_id: str) -> None:
    counter = get_agent(Counter, agent_id)
    assert [i async for i in counter.countdown(3)] == [3, 2, 1]
    assert (await counter.get())["count"] == 3


async def test_stream_error_reaches_caller_and_rolls_back(agent_id: str) -> None:
    counter = get_agent(Counter, agent_id)
    seen = []
    with pytest.raises(RuntimeError, match="stream broke"):
        async for item in counter.stream_then_fail():
            seen.append(item)
    assert seen == ["first"]
    assert (await counter.get())["count"] == 0


async def test_cancelled_call_is_rolled_back_and_frees_the_agent(agent_id: str, tmp_path) -> None:
    counter = get_agent(Counter, agent_id)
    await counter.add(1)
    marker = tmp_path / "started"
    slow = asyncio.ensure_future(counter.add_slowly(100, str(marker)))

    async def started() -> bool:
        return marker.exists()

    await eventually(started)
    slow.cancel()
    with pytest.raises(asyncio.CancelledError):
        await slow
    # The agent is free at once (not after the 60 s sleep) and the cancelled turn left nothing.
    assert await asyncio.wait_for(counter.get(), timeout=20) == {"count": 1, "starts": 1}
    assert await counter.logged() == [1]


def test_sync_handle_for_scripts(agent_id: str) -> None:
    counter = get_agent(Counter, agent_id).sync
    results: list[int] = []
    thread = threading.Thread(target=lambda: results.extend([counter.add(2), counter.add(3)]))
    thread.start()
    thread.join(60)
    assert results == [2, 5]
    assert list(counter.countdown(2)) == [2, 1]
    assert counter.describe()["epoch"] >= 1


async def test_destroy_deletes_the_agent_for_good(agent_id: str) -> None:
    counter = get_agent(Counter, agent_id)
    await counter.add(8)
    assert await counter.wipe() == "bye"
    assert await counter.get() == {"count": 0, "starts": 1}
    assert await counter.logged() == []


async def test_agent_knows_its_id_and_type_name(agent_id: str) -> None:
    assert await get_agent(Counter, agent_id).identity() == {"name": agent_id, "type_name": "counter"}


async def test_sql_takes_named_parameters(agent_id: str) -> None:
    ledger = get_agent(Ledger, agent_id)
    assert await ledger.record("ada", 5) == [{"account": "ada", "amount": 5}]
    assert await ledger.record("ada", 7) == [{"account": "ada", "amount": 5}, {"account": "ada", "amount": 7}]


async def test_sql_refuses_named_and_positional_values_together(agent_id: str) -> None:
    ledger = get_agent(Ledger, agent_id)
    with pytest.raises(TypeError, match="not both"):
        await ledger.mix_named_and_positional()
    assert await ledger.entries() == []


async def test_sql_many_runs_once_per_row_and_counts_the_rows_changed(agent_id: str) -> None:
    ledger = get_agent(Ledger, agent_id)
    assert await ledger.record_many([("ada", 1), ("bob", 2)]) == 2
    assert await ledger.record_many_named([{"account": "cy", "amount": 3}]) == 1
    assert await ledger.record_many([]) == 0
    # Two of the three UPDATEs match a row: rowcount is the total of rows changed.
    assert await ledger.scale(10, ["ada", "bob", "nobody"]) == 2
    assert await ledger.entries() == [
        {"account": "ada", "amount": 10},
        {"account": "bob", "amount": 20},
        {"account": "cy", "amount": 3},
    ]


async def test_sql_many_refuses_a_single_row_given_as_rows(agent_id: str) -> None:
    ledger = get_agent(Ledger, agent_id)
    with pytest.raises(TypeError, match="not a single row"):
        await ledger.one_row_as_rows()
    assert await ledger.entries() == []


async def test_schedule_takes_a_bound_method(agent_id: str) -> None:
    reminders = get_agent(Reminders, agent_id)
    stored = await reminders.remind("water the plants")
    assert (stored["later"], stored["hourly"]) == ("notify", "notify")

    async def queued_item_ran() -> bool:
        return (await reminders.stored())["notified"] == ["water the plants"]

    await eventually(queued_item_ran)
    assert (await reminders.stored())["schedules"] == ["notify", "notify"]


async def test_schedule_refuses_a_foreign_function(agent_id: str) -> None:
    reminders = get_agent(Reminders, agent_id)
    for target in ("other_agent", "function", "unbound"):
        for how in ("schedule", "schedule_every", "queue"):
            outcome = await reminders.try_foreign(target, how)
            assert "a method of this Reminders" in outcome["error"], (target, how)
            assert outcome["stored"] == 0, (target, how)


async def test_handle_of_gives_the_handle_behind_a_typed_handle(agent_id: str) -> None:
    counter = get_agent(Counter, agent_id)
    handle = handle_of(counter)
    assert isinstance(handle, AgentHandle) and handle is counter
    assert handle.id == agent_id
    assert isinstance(handle.sync, SyncAgentHandle)
    assert (await handle.describe())["epoch"] >= 1
    with pytest.raises(TypeError, match="not an agent handle"):
        handle_of(object())
