"""How long an agent's checkpoints stay restorable, and collecting what no kept checkpoint needs.

With a retention window, every checkpoint is also kept as a numbered history entry (a restore
point). Collection forgets the entries older than the window (except the newest of those: it is
the state at the window's start), thins the older ones in the window (`SPACING`: all of the last
minute, then the newest of each second, minute, hour), and deletes the chunks that neither the
latest checkpoint nor a kept entry references. It runs in the activation's checkpoint writer,
between two saves, so no save can publish a reference to a chunk while it is being deleted; the
store fences it by epoch, so an activation that has been replaced can never delete anything.
"""

from __future__ import annotations

import itertools
import logging
import math
import os
import time
from dataclasses import dataclass

from cluster.checkpoint import Manifest, segment_hashes
from cluster.snapshots import restore_points
from cluster.stores import CheckpointStore

log = logging.getLogger("ray_agents.activation")

#: At most one collection per agent this often (seconds).
COLLECT_INTERVAL_S = float(os.environ.get("RAY_AGENTS_GC_INTERVAL_S", "60"))
#: (age, spacing) in seconds: restore points younger than `age` are kept `spacing` apart (the
#: newest of each interval), so a busy agent keeps ~6k, not one per write, for a week.
SPACING = ((60.0, 0.0), (3600.0, 1.0), (86400.0, 60.0), (math.inf, 3600.0))


@dataclass(frozen=True)
class Collected:
    """What one collection removed."""

    forgotten: int
    dropped: int


class Retention:
    """One agent's retention window (`seconds`; 0 keeps no history) and collection schedule:
    at most every `COLLECT_INTERVAL_S`, or a quarter of a shorter window."""

    def __init__(self, seconds: float, collected: float = 0.0) -> None:
        self.seconds = seconds
        self.interval = min(COLLECT_INTERVAL_S, seconds / 4) if seconds > 0 else COLLECT_INTERVAL_S
        #: When the agent's chunks were last collected (Unix time, kept in its checkpoints: an
        #: agent that hibernates often is still collected once an interval, not at every wake).
        self.collected = collected
        #: Something may be collectable: a fold replaced base chunks, or history grew.
        self._pending = False

    @property
    def keeps_history(self) -> bool:
        return self.seconds > 0

    def due(self, folded: bool) -> bool:
        """Whether to collect after this save (`folded`: it replaced base chunks and deltas)."""
        self._pending |= folded or self.keeps_history
        return self._pending and time.time() - self.collected >= self.interval

    def collect(self, store: CheckpointStore, key: str, epoch: int, now: float | None = None) -> Collected:
        """Forget expired history and delete unreferenced chunks (blocking: run in a thread)."""
        self._pending, self.collected = False, time.time()
        raw = store.load_manifest(key)
        if raw is None:
            return Collected(0, 0)
        cutoff = (time.time() if now is None else now) - self.seconds
        listed_seqs = store.history(key)
        history = restore_points(store, key)
        now = cutoff + self.seconds
        forget = [seq for seq, manifest in history if manifest.time < cutoff]
        if self.keeps_history and forget:
            forget.pop()  # the newest entry older than the window: the state at its start
        forget += sorted(set(listed_seqs) - {seq for seq, _ in history})  # damaged: never restorable
        forget += _thinned([(seq, m.time) for seq, m in history if m.time >= cutoff], now)
        gone = set(forget)
        kept = [(None, Manifest.unpack(raw))] + [(seq, m) for seq, m in history if seq not in gone]
        stored = store.chunk_names(key)
        segments = {h for _, manifest in kept for h in manifest.db_segments if h in stored}
        listed = {h: segment_hashes(packed) for h, packed in store.load_chunks(key, segments).items()}
        referenced: set[str] = set()
        for seq, manifest in kept:
            needs = manifest.chunk_refs()
            for digest in manifest.db_segments:
                needs.update(listed.get(digest, ()))
            if seq is not None and not needs <= stored:  # lost (a power cut): it cannot be restored
                log.warning("%s: restore point %d has lost chunks; forgetting it", key, seq)
                forget.append(seq)
                continue
            referenced |= needs
        drop = stored - referenced
        if forget or drop:
            store.collect(key, epoch, forget, drop)
            log.info("%s: forgot %d restore points, deleted %d chunks", key, len(forget), len(drop))
        return Collected(len(forget), len(drop))


def _thinned(entries: list[tuple[int, float]], now: float) -> list[int]:
    """Entries (seq, time; oldest first) that `SPACING` does not keep: of several in one
    interval of their age's spacing, all but the newest."""
    dropped = []
    for (seq, when), (_, later) in itertools.pairwise(entries):
        spacing = next(s for age, s in SPACING if now - when < age)
        if spacing and when // spacing == later // spacing:
            dropped.append(seq)
    return dropped
