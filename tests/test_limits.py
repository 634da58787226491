"""Per-agent size limits: state, SQL database and streamed items. Each refusal is typed, rolls its
whole turn back, leaves the agent serving, and a restart finds the state from before it."""

from __future__ import annotations

import os
import signal
import sqlite3

import pytest

from agents import ChunkTooLargeError, DatabaseFullError, StateTooLargeError, get_agent, handle_of
from agents.chat.chunks import Text
from agents.limits import SizeLimits
from cluster.database import AgentDatabase, new_database_path
from tests.agents_for_limits import KIB, Bounded, Hoarder, Verbose, dump
from tests.waiting import eventually

#: The limits do not depend on the checkpoint store: dedicated and pooled, on the file store.
deployments = pytest.mark.parametrize("store_url", ["file", "pooled"], indirect=True)


async def restart(handle: object) -> None:
    """SIGKILL the agent's process; the next call re-activates it from its checkpoint."""
    before = await handle_of(handle).describe()
    os.kill(before["pid"], signal.SIGKILL)
    assert (await handle_of(handle).describe())["epoch"] > before["epoch"]


@deployments
@pytest.mark.usefixtures("runtime")
async def test_state_over_its_limit_is_refused_however_it_changes(agent_id: str) -> None:
    bounded = get_agent(Bounded, agent_id)
    assert await bounded.note("small") == 1
    assert await bounded.store(10) == 1
    big = "x" * (5 * KIB)
    message = (
        r"^Bounded state would be 5\.\d KiB \(\d+ bytes\) encoded, over its limit of 4 KiB "
        r"\(4096 bytes, `Bounded\.max_state_bytes`\)"
    )
    with pytest.raises(StateTooLargeError, match=message):  # refused by set_state
        await bounded.note(big)
    with pytest.raises(StateTooLargeError, match=message):  # changed in place: refused at turn end
        await bounded.note_in_place(big)
    await bounded.note_later(big)  # a queued job, refused when it runs after this turn

    async def given_up() -> bool:
        return await bounded.queued() == ["failed"]

    await eventually(given_up)
    before = (["small"], 1, 0)
    assert (await bounded.notes(), await bounded.blobs(), await bounded.schedules()) == before
    await restart(bounded)
    assert (await bounded.notes(), await bounded.blobs(), await bounded.schedules()) == before
    assert await bounded.note("after") == 2


@deployments
@pytest.mark.usefixtures("runtime")
async def test_database_over_its_limit_refuses_the_statement_and_its_turn(agent_id: str) -> None:
    bounded = get_agent(Bounded, agent_id)
    assert await bounded.store(20 * KIB) == 1
    message = r"^Bounded database may not grow past 64 KiB \(65536 bytes, `Bounded\.max_database_bytes`\)"
    with pytest.raises(DatabaseFullError, match=message):
        await bounded.store(100 * KIB)
    with pytest.raises(DatabaseFullError, match=message):  # caught by the agent: the turn still fails
        await bounded.store_despite_refusal(100 * KIB)
    for pragma in ("PRAGMA max_page_count=1000000", "PRAGMA page_size=512"):
        with pytest.raises(sqlite3.DatabaseError, match="not allowed"):
            await bounded.run(pragma)
    assert (await bounded.notes(), await bounded.blobs()) == ([], 1)
    assert await bounded.store(20 * KIB) == 2  # a write that fits still works
    await restart(bounded)
    assert await bounded.blobs() == 2
    with pytest.raises(DatabaseFullError):  # the restored database has its limit too
        await bounded.store(40 * KIB)
    fork = await handle_of(bounded).fork(f"{agent_id}-fork")
    with pytest.raises(DatabaseFullError):  # and so does a fork
        await fork.store(40 * KIB)
    await bounded.clear()
    await bounded.run("VACUUM")
    assert await bounded.store(40 * KIB) == 1


@deployments
@pytest.mark.usefixtures("runtime")
async def test_streamed_item_over_its_limit_ends_the_stream(agent_id: str) -> None:
    bounded = get_agent(Bounded, agent_id)
    seen = []
    message = (
        r"^Bounded streamed an item of 5\.0 KiB \(5122 bytes\) as JSON, over its limit of 4 KiB "
        r"\(4096 bytes, `Bounded\.max_chunk_bytes`\)"
    )
    with pytest.raises(ChunkTooLargeError, match=message):
        async for item in bounded.pieces([10, 4000, 5 * KIB, 10]):
            seen.append(len(item))
    assert seen == [10, 4000]  # what came before the refused item was delivered
    # The stream's turn was rolled back, its generator closed within it.
    assert (await bounded.notes(), await bounded.blobs()) == ([], 0)
    await restart(bounded)
    assert [len(item) async for item in bounded.pieces([4000])] == [4000]
    assert (await bounded.notes(), await bounded.blobs()) == (["yielding 4000", "closed"], 1)


@deployments
@pytest.mark.usefixtures("runtime")
async def test_a_chat_answer_larger_than_a_chunk_streams_in_pieces_that_fit(agent_id: str) -> None:
    chat = get_agent(Verbose, agent_id)
    chunks = [chunk async for chunk in chat.chat("talk")]
    texts = [chunk for chunk in chunks if isinstance(chunk, Text)]
    assert len(texts) > 1
    assert all(len(chunk.model_dump_json().encode()) <= Verbose.max_chunk_bytes for chunk in chunks)
    assert "".join(chunk.delta for chunk in texts) == Verbose.ANSWER
    assert chunks[-1].type == "done" and chunks[-1].status == "complete"
    assert [chunk async for chunk in chat.resume(chunks[0].stream_id)] == chunks


@deployments
@pytest.mark.usefixtures("runtime")
async def test_a_tool_result_larger_than_a_chunk_is_cut_saying_so_and_the_chat_goes_on(agent_id: str) -> None:
    chat = get_agent(Hoarder, agent_id)
    chunks = [chunk async for chunk in chat.chat("look")]
    (result,) = [chunk for chunk in chunks if chunk.type == "tool_result"]
    assert len(result.model_dump_json().encode()) <= Hoarder.max_chunk_bytes
    assert result.result.startswith(dump(20480)[:100]) and "[cut: the result was" in result.result
    assert chunks[-1].type == "done" and chunks[-1].status == "complete"
    answer = "".join(chunk.delta for chunk in chunks if isinstance(chunk, Text))
    assert answer == f"read {len(result.result)} characters"  # the model saw the same cut text


def test_a_refused_statement_leaves_the_database_and_its_capture_exact() -> None:
    db = AgentDatabase(new_database_path(), SizeLimits("Bounded", max_database_bytes=64 * KIB))
    db.begin()
    db.execute("CREATE TABLE t(x BLOB)")
    db.execute("INSERT INTO t VALUES (zeroblob(?))", (20 * KIB,))
    db.commit()
    assert db.take_changes().pages
    db.begin()
    db.execute("INSERT INTO t VALUES (zeroblob(1))")
    with pytest.raises(DatabaseFullError):
        db.execute("INSERT INTO t VALUES (zeroblob(?))", (100 * KIB,))
    with pytest.raises(DatabaseFullError):  # SQLite undid the transaction: nothing else may run in it
        db.execute("INSERT INTO t VALUES (zeroblob(1))")
    with pytest.raises(DatabaseFullError):  # nor may the turn commit
        db.changed()
    db.rollback()
    assert db.take_changes().pages == {}  # nothing of the refused turn reaches a checkpoint
    db.begin()
    assert db.execute("SELECT count(*) AS n FROM t") == [{"n": 1}]
    db.execute("INSERT INTO t VALUES (zeroblob(1))")  # the next turn writes as before
    assert db.changed()
    db.commit()
    assert db.take_changes().pages
    (pages,) = db.execute("PRAGMA page_count")[0].values()
    assert pages * 4096 <= 64 * KIB
    db.close()
