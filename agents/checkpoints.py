"""Restore points as callers see them (`AgentHandle.list_checkpoints`, `restore`, `fork`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

#: What names a restore point: its id (`CheckpointInfo.id`), or a time (the latest checkpoint at or
#: before it; a naive datetime is local time, as `datetime.timestamp` takes it; a float is a Unix time).
RestorePoint = int | datetime | float


@dataclass(frozen=True)
class CheckpointInfo:
    """One restore point of an agent: a checkpoint kept for its class's `checkpoint_retention`."""

    id: int
    time: datetime
    #: The restore point this checkpoint went back to, if `restore` wrote it.
    restored_from: int | None = None
