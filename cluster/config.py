"""Runtime settings, with the reason for each default."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


def _default_store_url() -> str:
    home = Path(os.environ.get("RAY_AGENTS_HOME", Path.home() / ".ray-agents"))
    return f"file://{home / 'checkpoints'}"


#: What one dedicated agent's process takes, for the default `max_dedicated_per_node` (measured:
#: ~50 MiB private memory each, rounded up for the agent's own data).
DEDICATED_AGENT_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class RuntimeConfig:
    """Where agents live and where their checkpoints go. Read from the environment by default."""

    #: Ray namespace of the controller and agent actors: keeps them apart from other apps' actors.
    namespace: str = field(default_factory=lambda: os.environ.get("RAY_AGENTS_NAMESPACE", "ray-agents"))
    #: Checkpoint store: a local directory works on one machine (or a shared filesystem);
    #: `redis://` or `postgresql://` for clusters of many machines. None: not chosen by this
    #: process: use the running controller's, or ~/.ray-agents/checkpoints if none runs yet.
    store_url: str | None = field(default_factory=lambda: os.environ.get("RAY_AGENTS_STORE") or None)
    #: Hosting of classes that do not choose (`Agent.hosting`): "dedicated" keeps today's one
    #: process per agent; "pooled" packs many into shared host actors.
    hosting: str = field(default_factory=lambda: os.environ.get("RAY_AGENTS_HOSTING") or "dedicated")
    #: Pooled hosting: agents one host carries before the controller starts another (or, once
    #: every node has `hosts_per_node`, before a host evicts its least recently used idle agents).
    #: ~10-20 KiB of runtime per small agent: 20,000 is a few hundred MiB plus their data.
    max_agents_per_host: int = field(
        default_factory=lambda: int(os.environ.get("RAY_AGENTS_MAX_AGENTS_PER_HOST") or 20_000)
    )
    #: Pooled host actors per node: one event loop each, so about one per core is the most useful.
    hosts_per_node: int = field(default_factory=lambda: int(os.environ.get("RAY_AGENTS_HOSTS_PER_NODE") or 2))
    #: Dedicated hosting: empty dedicated hosts kept started per node (each an idle process of
    #: ~50 MiB), so waking a dedicated agent takes a call instead of a process start.
    dedicated_spares_per_node: int = field(
        default_factory=lambda: int(os.environ.get("RAY_AGENTS_DEDICATED_SPARES") or 1)
    )
    #: Dedicated hosting: live dedicated agents (processes) one node may carry; past it, new
    #: activations get HostFullError instead of exhausting the node's memory. 0: the node's Ray
    #: `memory` resource over DEDICATED_AGENT_BYTES (~250 on a 24 GiB node).
    max_dedicated_per_node: int = field(
        default_factory=lambda: int(os.environ.get("RAY_AGENTS_MAX_DEDICATED_PER_NODE") or 0)
    )
    #: CPU share reserved per agent actor (and per pooled host): non-zero so placement hints are
    #: honoured, tiny so thousands of mostly idle agents fit on a node.
    agent_num_cpus: float = 0.001
    #: How many times a call is retried after its activation died or moved.
    call_attempts: int = 5
    #: Idempotency: the results of state-changing calls are kept in the checkpoint until their
    #: caller acknowledges them (its next call to the agent says which it received), so a call
    #: retried after a crash returns its first result instead of running twice, however many
    #: other calls ran meanwhile. At most this many unacknowledged results are kept (the oldest
    #: go first: those of callers that died).
    dedupe_window: int = 128

    @property
    def store(self) -> str:
        """The store's URL: the chosen one, else the default."""
        return self.store_url or _default_store_url()
