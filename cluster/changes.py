"""What a turn changed, and the one path that writes it to the store.

A `ChangeSet` is the encoded state and sections plus whether each (and the SQLite database)
differs from the last committed turn. A `Checkpointer` keeps the activation's view of what was
committed (state, sections, the results of recent calls) and of what the store holds (the
database's base image and page deltas, the published alarm); it captures a `PendingCheckpoint` at
the end of a turn and writes it later (`cluster.group_commit` decides when). Every commit path goes
through it, and so does collecting the chunks no kept checkpoint needs (`cluster.retention`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from agents.errors import ResultNotKeptError
from cluster import outcome
from cluster.checkpoint import Manifest, PageDelta
from cluster.database import AgentDatabase
from cluster.images import StoredDatabase
from cluster.outcome import Outcome
from cluster.retention import Retention
from cluster.snapshots import chunk_loader
from cluster.state import pack, unpack
from cluster.stores import CheckpointStore

log = logging.getLogger("ray_agents.activation")
T = TypeVar("T")

#: Largest result (pickled) kept in checkpoints for idempotent retries.
MAX_KEPT_RESULT = 16 * 1024


@dataclass(frozen=True)
class ChangeSet:
    """The encoded state and sections now, and what differs from the last checkpoint."""

    state: bytes
    sections: bytes
    state_changed: bool
    sections_changed: bool
    db_changed: bool

    @property
    def empty(self) -> bool:
        return not (self.state_changed or self.sections_changed or self.db_changed)


@dataclass(frozen=True)
class PendingCheckpoint:
    """A checkpoint captured at the end of a turn, waiting for its write."""

    state: bytes
    sections: bytes
    #: How many database captures it covers (`Checkpointer.capture` counts them).
    db_captures: int
    due: float | None
    results: dict[str, bytes]


class Checkpointer:
    """The store as one activation last wrote it, and the writer of its next checkpoints."""

    def __init__(
        self,
        key: str,
        epoch: int,
        store: CheckpointStore,
        manifest: Manifest,
        stored: StoredDatabase,
        window: int,
        retention: Retention,
    ) -> None:
        self.key = key
        self.epoch = epoch
        self.store = store
        self.window = window
        self.committed_state = manifest.state
        self.committed_sections = pack(manifest.sections)
        #: What the store's latest checkpoint holds of the database.
        self.stored = stored
        self.retention = retention
        #: request id -> packed outcome of recent state-changing calls (idempotent retries).
        self.results: OrderedDict[str, bytes] = OrderedDict(manifest.results)
        self.published_alarm: float | None = None
        #: Database changes captured but not yet written, and how many were written before them.
        self._captured: list[PageDelta] = []
        self._written_captures = 0
        #: The next alarm as of the last turn that changed the database.
        self._captured_due: float | None = None
        #: Number of the store's latest checkpoint (a restore point if history is kept).
        self.seq = manifest.seq
        self.count = 0

    def changes(self, state: bytes, sections: dict[str, Any], db_changed: bool) -> ChangeSet:
        packed = pack(sections)
        return ChangeSet(
            state=state,
            sections=packed,
            state_changed=state != self.committed_state,
            sections_changed=packed != self.committed_sections,
            db_changed=db_changed,
        )

    def result(self, request_id: str) -> Outcome | None:
        """The kept outcome of a call already applied (a retry after a crash), if any."""
        packed = self.results.get(request_id)
        return outcome.decode(packed) if packed is not None else None

    def forget_results(self, request_ids: tuple[str, ...]) -> None:
        """Their callers received these results: no retry will ask again (the next checkpoint
        leaves them out)."""
        for request_id in request_ids:
            self.results.pop(request_id, None)

    def remember(self, request_id: str, result: Outcome) -> None:
        """Keep the result for a retry of this request after a crash. A result too large to keep
        in every checkpoint (or unpicklable) is replaced by ResultNotKeptError: a retry learns the
        call was applied, and it never runs twice."""
        try:
            packed: bytes | None = outcome.encode(result)
        except Exception:
            packed = None
        if packed is None or len(packed) > MAX_KEPT_RESULT:
            lost = ResultNotKeptError(f"{self.key}: call applied; its result was not kept for retries")
            packed = outcome.encode(outcome.failure(lost))
        self.results[request_id] = packed
        while len(self.results) > self.window:
            self.results.popitem(last=False)

    def capture(
        self, changes: ChangeSet, db: AgentDatabase, next_due: Callable[[], float | None]
    ) -> PendingCheckpoint:
        """What the store must hold once every turn committed so far is durable: taken at the end
        of a turn (the next one may change the database at once), written later by `write`."""
        if changes.db_changed:
            self._captured.append(db.take_changes())
            self._captured_due = next_due()
        self.committed_state = changes.state
        self.committed_sections = changes.sections
        return PendingCheckpoint(
            state=changes.state,
            sections=changes.sections,
            db_captures=self._written_captures + len(self._captured),
            due=self._captured_due,
            results=dict(self.results),
        )

    async def write(self, pending: PendingCheckpoint) -> int:
        """Write one checkpoint (one at a time: `cluster.group_commit`): the pages its turns
        changed (a delta, or a fold of the deltas into the base) and the (small) manifest.
        Returns the bytes it saved."""
        covered = pending.db_captures - self._written_captures
        stored, new_chunks = self.stored, {}
        if covered:
            change = PageDelta.merged(self._captured[:covered])
            assert change is not None
            load = chunk_loader(self.store, self.key)
            stored, new_chunks = await asyncio.to_thread(self.stored.add, change, load)
            # Before the save, the index may only move earlier (a crash then costs a spurious
            # wake-up, never a missed alarm); the exact time is published once the save landed.
            await self.publish_alarm(_earliest(self.published_alarm, pending.due))
        manifest = Manifest(
            epoch=self.epoch,
            state=pending.state,
            db_size=stored.size,
            results=pending.results,
            sections=unpack(pending.sections),
            db_segments=stored.segments,
            db_deltas=stored.deltas,
            seq=self.seq + 1,
            time=time.time(),
            collected=self.retention.collected,
        )
        packed, chunks = manifest.pack(), {**stored.unsaved, **new_chunks}
        await asyncio.to_thread(
            self.store.save,
            self.key,
            self.epoch,
            packed,
            chunks,
            manifest.seq if self.retention.keeps_history else None,
        )
        self.count += 1
        self.seq = manifest.seq
        self.stored = replace(stored, unsaved={}) if stored.unsaved else stored
        if covered:
            del self._captured[:covered]
            self._written_captures += covered
            await self.publish_alarm(pending.due)
        if self.retention.due(folded=not stored.deltas and covered > 0):
            try:  # the checkpoint has landed: a failed collection only leaves garbage
                await asyncio.to_thread(self.retention.collect, self.store, self.key, self.epoch)
            except Exception:
                log.warning("%s: collecting unreferenced chunks failed", self.key, exc_info=True)
        return len(packed) + sum(map(len, chunks.values()))

    async def publish_alarm(self, due: float | None, force: bool = False) -> None:
        """Tell the cluster's alarm index when to wake this agent (None: never). `force`: even if
        it seems published already (at start, the index may hold a stale time)."""
        if force or due != self.published_alarm:
            await asyncio.to_thread(self.store.set_alarm, self.key, due)
            self.published_alarm = due


def _earliest(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else min(a, b)
