"""A damaged checkpoint is refused by name, never loaded as different data (file store: its
chunk files are at hand to damage)."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from agents import CorruptCheckpointError, get_agent, handle_of
from cluster.checkpoint import Manifest
from cluster.naming import agent_key
from cluster.stores import open_store
from tests.agents_under_test import Journal
from tests.waiting import eventually

pytestmark = [
    pytest.mark.parametrize("store_url", ["file"], indirect=True),
    pytest.mark.usefixtures("runtime"),
]


def _damage_every_chunk(store_url: str, namespace: str, key: str) -> int:
    chunks = open_store(store_url, namespace)._dir(key) / "chunks"  # type: ignore[attr-defined]
    files = [p for p in Path(chunks).iterdir() if p.is_file()]
    for file in files:
        data = bytearray(file.read_bytes())
        data[len(data) // 2] ^= 0xFF  # one flipped bit pattern in the middle
        file.write_bytes(bytes(data))
    return len(files)


async def test_a_damaged_chunk_stops_the_agent_from_waking_on_different_data(
    runtime: str, store_url: str, agent_id: str
) -> None:
    journal = get_agent(Journal, agent_id)
    for text in ("one", "two"):
        await journal.write(text, pad=5000)
    pid = (await handle_of(journal).describe())["pid"]
    key = agent_key(Journal.type_name, agent_id)
    assert _damage_every_chunk(store_url, runtime, key) > 0
    os.kill(pid, signal.SIGKILL)
    await eventually(lambda: _gone(pid))
    with pytest.raises(CorruptCheckpointError, match=rf"{key}: \d+ checkpoint chunk\(s\) do not match"):
        await journal.read()
    with pytest.raises(CorruptCheckpointError):
        await handle_of(journal).fork(f"{agent_id}-copy")  # a fork copies nothing damaged


def _flip_a_state_byte(store_url: str, namespace: str, key: str) -> None:
    """Change the state inlined in the latest manifest (its last byte), leaving it decodable."""
    manifest = open_store(store_url, namespace)._dir(key) / "manifest"  # type: ignore[attr-defined]
    data = bytearray(manifest.read_bytes())
    state = Manifest.unpack(bytes(data)).state
    at = data.find(state) + len(state) - 1
    data[at] ^= 0x01  # {"entries": 2} now reads {"entries": 3}
    manifest.write_bytes(bytes(data))  # in place: its history entry (a hard link) shares the damage


async def test_a_damaged_manifest_is_refused_and_an_older_restore_point_brings_the_agent_back(
    runtime: str, store_url: str, agent_id: str
) -> None:
    journal = get_agent(Journal, agent_id)
    for text in ("one", "two"):
        await journal.write(text)
    pid = (await handle_of(journal).describe())["pid"]
    *older, before_two, latest = [info.id for info in await handle_of(journal).list_checkpoints()]
    key = agent_key(Journal.type_name, agent_id)
    _flip_a_state_byte(store_url, runtime, key)
    os.kill(pid, signal.SIGKILL)
    await eventually(lambda: _gone(pid))
    with pytest.raises(CorruptCheckpointError, match=rf"{key}: the manifest of its latest checkpoint is dam"):
        await journal.read()
    hint = rf"newest restore point with an intact manifest is {before_two} .*restore\({before_two}\)"
    with pytest.raises(CorruptCheckpointError, match=hint):
        await journal.read()
    listed = [info.id for info in await handle_of(journal).list_checkpoints()]
    assert listed == [*older, before_two]  # the latest is damaged
    await handle_of(journal).restore(before_two)
    assert await journal.read() == {"entries": 1, "lines": ["one"]}
    assert await journal.write("three") == 2
    assert latest not in [info.id for info in await handle_of(journal).list_checkpoints()]


async def test_a_lost_manifest_is_refused_not_taken_for_a_new_agent(
    runtime: str, store_url: str, agent_id: str
) -> None:
    journal = get_agent(Journal, agent_id)
    for text in ("one", "two"):
        await journal.write(text)
    pid = (await handle_of(journal).describe())["pid"]
    latest = (await handle_of(journal).list_checkpoints())[-1].id
    key = agent_key(Journal.type_name, agent_id)
    (open_store(store_url, runtime)._dir(key) / "manifest").unlink()  # type: ignore[attr-defined]
    os.kill(pid, signal.SIGKILL)
    await eventually(lambda: _gone(pid))
    lost = rf"{key}: the manifest of its latest checkpoint is missing.*restore\({latest}\)"
    with pytest.raises(CorruptCheckpointError, match=lost):
        await journal.read()  # not {"entries": 0}: its initial state
    await handle_of(journal).restore(latest)
    assert await journal.read() == {"entries": 2, "lines": ["one", "two"]}


async def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False
