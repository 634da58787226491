"""Runtime settings, with the reason for each default."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


def _default_store_url() -> str:
    home = Path(os.environ.get("RAY_AGENTS_HOME", Path.home() / ".ray-agents"))
    return f"file://{home / 'checkpoints'}"


@dataclass(frozen=True)
class RuntimeConfig:
    """Where agents live and where their checkpoints go. Read from the environment by default."""

    #: Ray namespace of the controller and agent actors: keeps them apart from other apps' actors.
    namespace: str = field(default_factory=lambda: os.environ.get("RAY_AGENTS_NAMESPACE", "ray-agents"))
    #: Checkpoint store: a local directory works on one machine (or a shared filesystem);
    #: `redis://` for clusters of many machines.
    store_url: str = field(default_factory=lambda: os.environ.get("RAY_AGENTS_STORE") or _default_store_url())
    #: CPU share reserved per agent actor: non-zero so placement hints are honoured, tiny so
    #: thousands of mostly idle agents fit on a node.
    agent_num_cpus: float = 0.001
    #: How many times a call is retried after its activation died or moved.
    call_attempts: int = 5
    #: Idempotency: results of this many recent state-changing calls are kept in the checkpoint,
    #: so a call retried after a crash returns its first result instead of running twice.
    dedupe_window: int = 128
