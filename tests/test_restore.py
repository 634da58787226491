"""Restore points: list, restore (by id and by time), fork, the refusals, and collection under load."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta

import pytest

from agents import (
    AgentDestroyedError,
    AgentExistsError,
    CheckpointNotFoundError,
    ReentrantCallError,
    get_agent,
    handle_of,
)
from cluster.checkpoint import Manifest, segment_hashes
from cluster.naming import agent_key
from cluster.stores import open_store
from tests.agents_under_test import Journal, NoHistoryJournal, ShortMemoryJournal

pytestmark = pytest.mark.usefixtures("runtime")


async def _written(journal, *texts: str) -> dict[str, int]:
    """Write each text; the id of the restore point right after each."""
    after = {}
    for text in texts:
        await journal.write(text)
        after[text] = (await handle_of(journal).list_checkpoints())[-1].id
    return after


async def test_restore_takes_state_and_sql_back_and_can_itself_be_undone(agent_id: str) -> None:
    journal = get_agent(Journal, agent_id)
    points = await _written(journal, "a", "b", "c")
    restored = await handle_of(journal).restore(points["b"])
    assert restored.restored_from == points["b"]
    assert await journal.read() == {"entries": 2, "lines": ["a", "b"]}
    await journal.write("d")
    assert await journal.read() == {"entries": 3, "lines": ["a", "b", "d"]}
    await handle_of(journal).restore(points["c"])  # history moved forward: the old future is there
    assert await journal.read() == {"entries": 3, "lines": ["a", "b", "c"]}
    listed = await handle_of(journal).list_checkpoints()
    assert [p.restored_from for p in listed if p.restored_from] == [points["b"], points["c"]]
    assert [p.id for p in listed] == sorted(p.id for p in listed)


async def test_restore_by_time_picks_the_latest_checkpoint_at_or_before_it(agent_id: str) -> None:
    journal = get_agent(Journal, agent_id)
    points = await _written(journal, "a", "b")
    times = {p.id: p.time for p in await handle_of(journal).list_checkpoints()}
    between = times[points["a"]] + (times[points["b"]] - times[points["a"]]) / 2
    await handle_of(journal).restore(between)
    assert (await journal.read())["lines"] == ["a"]
    await handle_of(journal).restore(datetime.now() - timedelta(milliseconds=1))  # naive: local time
    assert (await journal.read())["lines"] == ["a"]  # the restore is the latest checkpoint now


async def test_fork_starts_a_new_agent_from_a_restore_point_and_leaves_the_source(agent_id: str) -> None:
    journal = get_agent(Journal, agent_id)
    points = await _written(journal, "a", "b", "c")
    fork = await handle_of(journal).fork(f"{agent_id}-fork", at=points["b"])
    assert await fork.read() == {"entries": 2, "lines": ["a", "b"]}
    await fork.write("x")
    assert (await fork.read())["lines"] == ["a", "b", "x"]
    assert (await journal.read())["lines"] == ["a", "b", "c"]
    latest = await handle_of(journal).fork(f"{agent_id}-latest")
    assert (await latest.read())["lines"] == ["a", "b", "c"]
    assert len(await latest.list_checkpoints()) == 1  # its own history starts at the fork


async def test_refusals_are_typed_and_change_nothing(agent_id: str) -> None:
    journal = get_agent(Journal, agent_id)
    await _written(journal, "a")
    before = await journal.read()
    refusals = [
        (
            handle_of(journal).restore(datetime(2001, 1, 1).astimezone()),
            CheckpointNotFoundError,
            "retention window",
        ),
        (handle_of(journal).restore(time.time() + 3600), CheckpointNotFoundError, "future"),
        (handle_of(journal).restore(10**9), CheckpointNotFoundError, "no restore point"),
        (handle_of(journal).fork(agent_id), AgentExistsError, "onto itself"),
        (
            handle_of(get_agent(Journal, f"{agent_id}-never")).restore(1),
            CheckpointNotFoundError,
            "no restore",
        ),
    ]
    other = get_agent(Journal, f"{agent_id}-other")
    await other.write("o")
    refusals.append((handle_of(journal).fork(f"{agent_id}-other"), AgentExistsError, "exists"))
    for attempt, error, words in refusals:
        with pytest.raises(error, match=words):
            await attempt
    assert await journal.read() == before
    assert (await other.read())["lines"] == ["o"]

    with pytest.raises(ReentrantCallError):  # it would wait for its own turn to end
        await journal.restore_self(1)
    assert await journal.read() == before

    await journal.wipe()
    with pytest.raises(AgentDestroyedError):
        await handle_of(journal).restore(1)
    with pytest.raises(AgentDestroyedError):
        await handle_of(journal).fork(f"{agent_id}-from-destroyed")

    forgetful = get_agent(NoHistoryJournal, agent_id)
    await forgetful.write("a")
    assert await handle_of(forgetful).list_checkpoints() == []
    with pytest.raises(CheckpointNotFoundError, match="checkpoint_retention=0"):
        await handle_of(forgetful).restore(datetime.now().astimezone())


async def test_destroy_from_outside_deletes_the_agent_as_its_own_destroy_would(agent_id: str) -> None:
    journal = get_agent(Journal, agent_id)
    await journal.write("a")
    before = await handle_of(journal).describe()
    await handle_of(journal).destroy()
    with pytest.raises(AgentDestroyedError):
        await handle_of(journal).restore(1)
    assert await journal.read() == {"entries": 0, "lines": []}  # a later call starts afresh
    assert (await handle_of(journal).describe())["epoch"] > before["epoch"]
    await handle_of(get_agent(Journal, f"{agent_id}-never")).destroy()  # nothing there: nothing to do
    with pytest.raises(ReentrantCallError):  # it would wait for its own turn to end
        await journal.destroy_by_handle()
    assert await journal.read() == {"entries": 0, "lines": []}


async def test_restore_of_a_database_that_outgrew_its_deltas(agent_id: str) -> None:
    journal = get_agent(Journal, agent_id)
    points = await _written(journal, *(f"row {i}" for i in range(5)))
    for i in range(5, 140):  # deltas are folded into the base on the way (64 at most, 1 MiB)
        await journal.write(f"row {i}", pad=20_000)
    await handle_of(journal).restore(points["row 2"])
    assert (await journal.read())["lines"] == ["row 0", "row 1", "row 2"]
    fork = await handle_of(journal).fork(f"{agent_id}-fork")
    assert (await fork.read())["lines"] == ["row 0", "row 1", "row 2"]


async def test_collection_under_sixteen_writers_never_deletes_what_a_restore_point_needs(
    runtime: str, store_url: str, agent_id: str
) -> None:
    """Retention of 2 s: collection runs every 0.5 s while 16 writers write for 5 s."""
    journal = get_agent(ShortMemoryJournal, agent_id)
    acked: list[str] = []
    stop = time.monotonic() + 5

    async def writer(w: int) -> None:
        n = 0
        while time.monotonic() < stop:
            text = f"w{w}-{n}"
            await journal.write(text, pad=3000)
            acked.append(text)
            n += 1

    await asyncio.gather(*(writer(w) for w in range(16)))
    store = open_store(store_url, runtime)
    key = agent_key("short-memory-journal", agent_id)
    kept = store.history(key)
    assert kept, "restore points are kept"
    times = [Manifest.unpack(store.load_history(key, seq) or b"").time for seq in kept]
    assert times[1] > time.time() - 2 - 3, "older restore points were collected"  # (slack for a slow run)
    stored = store.chunk_names(key)
    for seq in kept:  # every kept restore point has every chunk it needs
        manifest = Manifest.unpack(store.load_history(key, seq) or b"")
        needed = manifest.chunk_refs()
        for packed in store.load_chunks(key, manifest.db_segments).values():
            needed |= set(segment_hashes(packed))
        assert needed <= stored, f"restore point {seq} lost chunks"
    await handle_of(journal).restore(kept[-1])
    assert sorted((await journal.read())["lines"]) == sorted(acked)
