"""An activation on a real local store, without Ray: the commit path's edge cases, made exact."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgpack
import pytest

from agents import Agent, AgentUnavailableError, callable
from agents.requests import Request
from cluster.activation import Activation
from cluster.checkpoint import Manifest
from cluster.stores import LocalDirectoryStore


class GatedStore(LocalDirectoryStore):
    """Saves wait at a gate the test opens, or fail while `failing` is set."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.gate: threading.Event | None = None
        self.saving = threading.Event()
        self.failing = False
        #: (manifest bytes, new chunk bytes) of every save.
        self.written: list[tuple[int, int]] = []

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.failing:
            raise OSError("disk hiccup")
        _key, _epoch, manifest, new_chunks, *_ = args
        self.written.append((len(manifest), sum(len(c) for c in new_chunks.values())))
        self.saving.set()
        if self.gate is not None:
            self.gate.wait(30)
        super().save(*args, **kwargs)


seen_updates: list[Any] = []


class Notes(Agent):
    initial_state = {"n": 0}

    async def on_start(self) -> None:
        self.sql("CREATE TABLE IF NOT EXISTS t(x BLOB)")

    async def on_state_update(self, state: Any, source: Any) -> None:
        seen_updates.append(dict(state))

    @callable
    async def rewrite(self) -> None:
        self.sql("DELETE FROM t")
        self.sql("INSERT INTO t SELECT randomblob(30000) FROM (SELECT 1 UNION SELECT 2 UNION SELECT 3)")
        await self.checkpoint()

    @callable
    async def fill(self, megabytes: int) -> None:
        self.sql("CREATE TABLE IF NOT EXISTS big(id INTEGER PRIMARY KEY, body BLOB)")
        self.sql_many("INSERT INTO big(body) VALUES (randomblob(1000))", [()] * (megabytes * 1000))

    @callable
    async def touch_row(self, row: int) -> None:
        self.sql("UPDATE big SET body = randomblob(1000) WHERE id = :row", {"row": row})

    @callable
    async def watch(self):
        yield self.state["n"]

    @callable
    async def bump(self) -> int:
        self.set_state({"n": self.state["n"] + 1})
        return self.state["n"]

    @callable
    async def bump_and_checkpoint(self) -> int:
        self.set_state({"n": self.state["n"] + 1})
        await self.checkpoint()
        return self.state["n"]

    @callable
    async def queue_then_checkpoint(self) -> None:
        await self.queue("work")
        await self.checkpoint()

    async def work(self) -> None:
        self.set_state({"n": self.state["n"] + 100})

    @callable
    async def plan(self) -> str:
        return (await self.schedule(600, "work")).id

    @callable
    async def unplan(self, schedule_id: str) -> bool:
        return await self.cancel_schedule(schedule_id)


@pytest.fixture
async def store(tmp_path: Path) -> GatedStore:
    return GatedStore(tmp_path / "store")


def activation(store: GatedStore) -> Activation:
    return Activation(Notes, "a", store.bump_epoch("notes/a"), store)


@pytest.fixture
async def live(store: GatedStore) -> AsyncIterator[Activation]:
    a = activation(store)
    await a.start()
    yield a
    if a.state.serving:
        await a.close()


async def test_cancel_during_a_checkpoint_leaves_the_store_restorable(
    live: Activation, store: GatedStore
) -> None:
    store.gate, store.saving = threading.Event(), threading.Event()
    call = asyncio.ensure_future(live.invoke("rewrite", (), {}, "r1"))
    await asyncio.to_thread(store.saving.wait, 30)  # the save is under way
    call.cancel()
    store.gate.set()
    with pytest.raises(asyncio.CancelledError):
        await call
    store.gate = None
    assert (await live.invoke("bump", (), {}, "r2")).unwrap() == 1
    await live.close()
    fresh = activation(store)
    await fresh.start()  # every chunk the manifest names is there
    assert fresh.get_state()["n"] == 1
    assert fresh.sql("SELECT COUNT(*) AS c FROM t", ()) == [{"c": 3}]


async def test_a_change_checkpointed_mid_turn_still_counts_for_the_turn(live: Activation) -> None:
    pushed: list[Any] = []
    live.add_state_listener(lambda state, source: pushed.append(dict(state)))
    seen_updates.clear()
    assert (await live.invoke("bump_and_checkpoint", (), {}, "r1")).unwrap() == 1
    assert (
        live.checkpointer.result("r1") is not None
    )  # a retry after a crash returns this result, it does not run again
    assert pushed == [{"n": 1}]
    assert seen_updates == [{"n": 1}]


async def test_work_queued_before_a_mid_turn_checkpoint_still_runs(live: Activation) -> None:
    assert (await live.invoke("queue_then_checkpoint", (), {}, "r1")).ok

    async def ran() -> None:
        while live.get_state()["n"] != 100:
            await asyncio.sleep(0.01)

    await asyncio.wait_for(ran(), 10)


async def test_a_failed_checkpoint_never_loses_the_alarm_index_entry(
    live: Activation, store: GatedStore
) -> None:
    schedule_id = (await live.invoke("plan", (), {}, "r1")).unwrap()
    assert [k for k, _ in store.due_alarms(1e12)] == ["notes/a"]
    store.failing = True
    assert not (await live.invoke("unplan", (schedule_id,), {}, "r2")).ok  # not persisted
    store.failing = False
    assert [k for k, _ in store.due_alarms(1e12)] == ["notes/a"]  # the stored schedule still has one
    fresh = activation(store)
    await fresh.start()
    assert [s.id for s in await fresh.agent.list_schedules()] == [schedule_id]


async def _until_state(live: Activation, n: int) -> None:
    """Yield to the event loop until the turns queued so far have run (no timing involved)."""
    for _ in range(10_000):
        if live.get_state()["n"] == n:
            return
        await asyncio.sleep(0)
    raise AssertionError(f"state never reached n={n}: {live.get_state()}")


async def test_consecutive_turns_share_one_checkpoint_and_each_result_waits_for_it(
    live: Activation, store: GatedStore
) -> None:
    store.gate, store.saving = threading.Event(), threading.Event()
    first = asyncio.ensure_future(live.invoke("bump", (), {}, "r1"))
    await asyncio.to_thread(store.saving.wait, 30)  # the first turn's checkpoint is being written
    written = live.checkpoints
    rest = [asyncio.ensure_future(live.invoke("bump", (), {}, f"r{i}")) for i in range(2, 7)]
    await _until_state(live, 6)  # the next turns ran while that checkpoint was in flight
    assert not any(call.done() for call in (first, *rest))  # no result before it is durable
    store.gate.set()
    assert [(await call).unwrap() for call in (first, *rest)] == [1, 2, 3, 4, 5, 6]
    assert live.checkpoints == written + 2  # the first turn's, then ONE for the five after it
    await live.close()
    fresh = activation(store)
    await fresh.start()
    assert fresh.get_state()["n"] == 6
    assert all(fresh.checkpointer.result(f"r{i}") is not None for i in range(1, 7))  # no rerun on retry


async def test_a_failed_group_checkpoint_fails_every_turn_it_covered_and_sends_none_of_their_pushes(
    live: Activation, store: GatedStore
) -> None:
    assert (await live.sockets.connect(Request("GET", "ws://test"), "c1", "replica")).ok
    pushes = live.sockets._outboxes["replica"].pushes  # what would go to the replica, in order
    greeted = len(pushes)
    store.gate, store.saving = threading.Event(), threading.Event()
    first = asyncio.ensure_future(live.invoke("bump", (), {}, "r1"))
    await asyncio.to_thread(store.saving.wait, 30)
    store.failing = True  # the next write (the group covering the turns below) fails
    rest = [asyncio.ensure_future(live.invoke("bump", (), {}, f"r{i}")) for i in (2, 3)]
    await _until_state(live, 3)
    assert len(pushes) == greeted  # not even the first turn's state sync has left: not durable yet
    store.gate.set()
    assert (await first).unwrap() == 1
    assert len(pushes) == greeted + 1  # the first turn's state sync, once its checkpoint landed
    for call in rest:
        failed = await call
        assert isinstance(failed.error, AgentUnavailableError) and failed.retriable
    assert len(pushes) == greeted + 1  # nothing of the failed turns left
    live.after_gate([("send", ("c1",), "late")])  # nor anything after: memory was never stored
    assert len(pushes) == greeted + 1
    assert not live.state.serving  # memory is ahead of the store: it takes no more turns
    store.failing, store.gate = False, None
    fresh = activation(store)
    await fresh.start()
    assert fresh.get_state()["n"] == 1
    assert fresh.checkpointer.result("r2") is None  # a retry runs it for real, once


async def test_a_one_row_write_on_a_large_database_writes_a_small_manifest_and_a_few_pages(
    live: Activation, store: GatedStore
) -> None:
    assert (await live.invoke("fill", (20,), {}, "f")).ok  # ~20 MiB: more than one chunk-list segment
    assert len(live.checkpointer.stored.segments) >= 2
    before = len(store.written)
    assert (await live.invoke("touch_row", (10_000,), {}, "t")).ok
    [(manifest_bytes, chunk_bytes)] = store.written[before:]
    assert manifest_bytes < 4096  # a root over segments, not ~640 chunk hashes
    assert chunk_bytes < 3 * 4096 + 200  # a delta of the pages it changed, not chunks or 20 MiB
    image = live.db.image()
    await live.close()
    fresh = activation(store)
    await fresh.start()
    assert fresh.sql("SELECT COUNT(*) AS c FROM big", ()) == [{"c": 20_000}]
    assert fresh.db.image() == image  # byte for byte what was written


async def test_a_checkpoint_of_the_previous_format_loads_and_is_upgraded_by_the_next_write(
    live: Activation, store: GatedStore
) -> None:
    assert (await live.invoke("fill", (2,), {}, "f")).ok  # folded into the base: no deltas
    await live.close()
    manifest = Manifest.unpack(store.load_manifest("notes/a") or b"").with_chunks(
        store.load_chunks("notes/a", live.checkpointer.stored.segments)
    )
    assert not manifest.db_deltas
    old = msgpack.unpackb(msgpack.unpackb(manifest.pack(), raw=False)["body"], raw=False)  # format 4's fields
    old.update(v=1, db_chunks=manifest.db_chunks)  # what version 1 wrote: the chunk list inline
    for newer in ("db_segments", "db_deltas", "seq", "time", "restored_from"):
        del old[newer]
    store.save("notes/a", store.bump_epoch("notes/a"), msgpack.packb(old, use_bin_type=True), {})
    fresh = Activation(Notes, "a", store.bump_epoch("notes/a"), store)
    await fresh.start()
    assert fresh.sql("SELECT COUNT(*) AS c FROM big", ()) == [{"c": 2000}]
    assert (await fresh.invoke("bump", (), {}, "b")).ok
    assert Manifest.unpack(store.load_manifest("notes/a") or b"").db_segments  # upgraded
    await fresh.close()
    again = Activation(Notes, "a", store.bump_epoch("notes/a"), store)
    await again.start()
    assert again.sql("SELECT COUNT(*) AS c FROM big", ()) == [{"c": 2000}]
    await again.close()


async def test_a_stream_shows_nothing_before_the_turns_it_follows_are_stored(
    live: Activation, store: GatedStore
) -> None:
    store.gate, store.saving = threading.Event(), threading.Event()
    bumped = asyncio.ensure_future(live.invoke("bump", (), {}, "r1"))
    await asyncio.to_thread(store.saving.wait, 30)
    items = live.stream("watch", (), {})
    first = asyncio.ensure_future(items.__anext__())
    for _ in range(100):
        await asyncio.sleep(0)
    assert not first.done()  # it would show n=1, which is not stored yet
    store.gate.set()
    assert (await first).unwrap() == 1
    assert (await bumped).unwrap() == 1
    assert (await items.__anext__()).end


async def test_a_result_is_kept_until_its_caller_acknowledges_it_however_many_calls_run_meanwhile(
    live: Activation, store: GatedStore
) -> None:
    """A caller whose retry is delayed (backoff after a second failure) while other callers run
    thousands of writes still gets its first result: results leave only when acknowledged."""
    assert (await live.invoke("bump", (), {}, "slow")).unwrap() == 1
    previous = None
    for i in range(2 * live.dedupe_window):  # others write on, acknowledging what they received
        acks = (previous,) if previous else ()
        assert (await live.invoke("bump", (), {}, f"fast-{i}", (), acks)).ok
        previous = f"fast-{i}"
    assert len(live.checkpointer.results) == 2  # "slow" and the last one, not thousands
    await live.close()
    fresh = activation(store)
    await fresh.start()  # after a crash: the results come from the checkpoint
    assert (await fresh.invoke("bump", (), {}, "slow")).unwrap() == 1  # its first result, not run again
    assert fresh.get_state()["n"] == 1 + 2 * live.dedupe_window
    await fresh.close()
