"""Restore points: listing an agent's kept checkpoints, restoring one, forking one to a new ID,
and destroying an agent with all of them.

Blocking store work, run by the controller in a thread with the agent's activation stopped and
its epoch bumped (so nothing else writes meanwhile). A restore writes a new checkpoint with the
chosen one's state, SQL and sections: history moves forward, so a restore can itself be undone.
It keeps what belongs to the present: the results of recent calls (an acknowledged call retried
later is still not run again) and the open connections. A fork copies a checkpoint's chunks to
the new ID and starts it with no connections and no remembered results.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from datetime import datetime

from agents.checkpoints import CheckpointInfo, RestorePoint
from agents.errors import AgentDestroyedError, AgentExistsError, CheckpointNotFoundError
from cluster.checkpoint import DamagedManifest, Manifest, segment
from cluster.images import LOAD_BATCH
from cluster.snapshots import chunk_loader, decode, restore_points
from cluster.sockets import SECTION as CONNECTIONS
from cluster.stores import CheckpointStore

log = logging.getLogger("ray_agents.controller")


def list_checkpoints(store: CheckpointStore, key: str) -> list[CheckpointInfo]:
    """Every kept restore point whose manifest is intact, oldest first."""
    return [
        CheckpointInfo(seq, datetime.fromtimestamp(manifest.time).astimezone(), manifest.restored_from)
        for seq, manifest in restore_points(store, key)
    ]


def find(store: CheckpointStore, key: str, at: RestorePoint, retention: float) -> Manifest:
    """The kept checkpoint `at` names, or a typed refusal saying why there is none."""
    if store.destroyed(key):
        raise AgentDestroyedError(f"{key} was destroyed: it has no restore points")
    seqs = store.history(key)
    if not seqs:
        raise CheckpointNotFoundError(f"{key} has no restore points (checkpoint_retention={retention:g} s)")
    if isinstance(at, int):
        data = store.load_history(key, at) if at in seqs else None
        if data is None:
            raise CheckpointNotFoundError(f"{key} has no restore point {at} (it has {seqs[0]}..{seqs[-1]})")
        return decode(store, key, data, f"restore point {at}")
    when = at.timestamp() if isinstance(at, datetime) else float(at)
    now = time.time()
    if when > now:
        raise CheckpointNotFoundError(f"{key}: {_iso(when)} is in the future")
    if when < now - retention:
        raise CheckpointNotFoundError(
            f"{key}: {_iso(when)} is outside the retention window "
            f"({retention:g} s, since {_iso(now - retention)})"
        )
    chosen = None
    for _, manifest in restore_points(store, key):  # oldest first: keep the latest at or before `when`
        if manifest.time > when:
            break
        chosen = manifest
    if chosen is None:
        raise CheckpointNotFoundError(f"{key} has no checkpoint at or before {_iso(when)}")
    return chosen


def restore(
    store: CheckpointStore, key: str, epoch: int, at: RestorePoint, retention: float
) -> CheckpointInfo:
    """Make the checkpoint `at` names the agent's latest again (as a new checkpoint)."""
    target = find(store, key, at, retention)
    current = _present(store, key, epoch)
    sections = dict(target.sections)
    sections.pop(CONNECTIONS, None)
    if CONNECTIONS in current.sections:
        sections[CONNECTIONS] = current.sections[CONNECTIONS]
    restored = replace(
        target,
        epoch=epoch,
        results=current.results,
        sections=sections,
        seq=max(current.seq, store.history(key)[-1]) + 1,
        time=time.time(),
        restored_from=target.seq,
    )
    store.save(key, epoch, restored.pack(), {}, restored.seq if retention > 0 else None)
    log.info(
        "%s restored to checkpoint %d (%s) as checkpoint %d", key, target.seq, _iso(target.time), restored.seq
    )
    return CheckpointInfo(restored.seq, datetime.fromtimestamp(restored.time).astimezone(), target.seq)


def _present(store: CheckpointStore, key: str, epoch: int) -> Manifest:
    """The latest checkpoint, whose results and connections a restore keeps: none if it is
    damaged (going back to an intact restore point is how a damaged agent recovers)."""
    raw = store.load_manifest(key)
    try:
        return Manifest.unpack(raw) if raw is not None else Manifest(epoch, b"")
    except DamagedManifest as exc:
        log.warning("%s: restoring over a damaged latest checkpoint (%s): its results are dropped", key, exc)
        return Manifest(epoch, b"")


def fork_source(
    store: CheckpointStore, source: str, target: str, at: RestorePoint | None, retention: float
) -> Manifest:
    """The checkpoint a fork of `source` onto `target` starts from, its chunk list filled in, or
    a typed refusal (`target` exists, `source` destroyed, no such restore point)."""
    if store.load_manifest(target) is not None:
        raise AgentExistsError(f"cannot fork onto {target}: an agent with that ID exists")
    if at is None:
        if store.destroyed(source):
            raise AgentDestroyedError(f"{source} was destroyed: there is nothing to fork")
        raw = store.load_manifest(source)
        if raw is None:
            raise CheckpointNotFoundError(f"{source} has no checkpoint to fork")
        chosen = decode(store, source, raw)
    else:
        chosen = find(store, source, at, retention)
    try:
        return chosen.with_chunks(chunk_loader(store, source)(chosen.db_segments))
    except KeyError as exc:  # the source's collection deleted them just now
        raise CheckpointNotFoundError(f"{source} changed while it was being forked: {exc!r}") from exc


def fork(
    store: CheckpointStore, source: str, target: str, epoch: int, at: RestorePoint | None, retention: float
) -> None:
    """Start agent `target` (its epoch bumped to `epoch`) from `source`'s checkpoint `at` (None:
    its latest). The source keeps running: if its collection deletes a chunk while it is being
    copied (the latest checkpoint moved on, or `at` was thinned out), the choice is made again."""
    for attempt in range(2):
        try:
            chosen = fork_source(store, source, target, at, retention)
            _copy_chunks(store, source, target, chosen)
            break
        except (KeyError, CheckpointNotFoundError) as exc:
            if attempt:
                raise CheckpointNotFoundError(f"{source} changed while it was being forked: {exc!r}") from exc
    sections = {name: data for name, data in chosen.sections.items() if name != CONNECTIONS}
    forked = replace(
        chosen,
        db_chunks=[],
        epoch=epoch,
        results={},
        sections=sections,
        seq=1,
        time=time.time(),
        restored_from=None,
        collected=0.0,
    )
    store.save(target, epoch, forked.pack(), {}, 1 if retention > 0 else None)
    log.info("forked %s checkpoint %d into %s", source, chosen.seq, target)


def destroy(store: CheckpointStore, key: str, epoch: int) -> None:
    """Delete the agent's checkpoint, history and chunks (marking it destroyed) and its alarm."""
    store.delete(key, epoch)
    store.set_alarm(key, None)
    log.info("%s destroyed (from outside)", key)


def _copy_chunks(store: CheckpointStore, source: str, target: str, chosen: Manifest) -> None:
    """Copy every chunk `chosen` needs from `source` to `target` (giving a version 1 checkpoint,
    whose chunk list was inline, its segments)."""
    needed = sorted(chosen.chunk_refs())
    if chosen.db_chunks and not chosen.db_segments:
        listed = segment(chosen.db_chunks)
        store.put_chunks(target, dict(listed))
        chosen.db_segments = [digest for digest, _ in listed]
    for first in range(0, len(needed), LOAD_BATCH):
        store.put_chunks(target, chunk_loader(store, source)(needed[first : first + LOAD_BATCH]))


def _iso(when: float) -> str:
    return datetime.fromtimestamp(when).astimezone().isoformat(timespec="seconds")
