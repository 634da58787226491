"""Node loss on a 3-node cluster on one machine. Run as a script (its own Ray cluster and driver);
prints one JSON line of findings for tests/test_multinode.py to check.

    python tests/multinode_scenario.py STORE_DIR [dedicated|pooled]
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from collections import Counter as Tally

# Notice a lost node in ~3 s instead of ~15 s (inherited by the GCS and raylets started below).
os.environ.update(
    RAY_health_check_period_ms="1000",
    RAY_health_check_failure_threshold="3",
    RAY_health_check_timeout_ms="1000",
    RAY_USAGE_STATS_ENABLED="0",
)

import ray
from ray.cluster_utils import Cluster

from agents import configure, get_agent
from tests.agents_under_test import Counter

AGENTS = 12


async def scenario(cluster: Cluster, workers: list) -> dict:
    handles = [get_agent(Counter, f"mn-{i}") for i in range(AGENTS)]
    for i, handle in enumerate(handles):
        await handle.add(i)
        await handle.add(100)
    before = {h.id: await h.describe() for h in handles}
    spread = Tally(info["node_id"] for info in before.values())

    victim = max(workers, key=lambda node: spread.get(node.node_id, 0))
    on_victim = [agent for agent, info in before.items() if info["node_id"] == victim.node_id]
    started = time.monotonic()
    cluster.remove_node(victim, allow_graceful=False)
    for agent in on_victim:  # a lost machine takes its processes with it
        with contextlib.suppress(ProcessLookupError):
            os.kill(before[agent]["pid"], signal.SIGKILL)
    # Every agent answers with its full state; those on the lost node are re-activated elsewhere.
    states = {h.id: await h.get() for h in handles}
    recovery = time.monotonic() - started
    after = {h.id: await h.describe() for h in handles}
    return {
        "nodes_used": len(spread),
        "victim_agents": on_victim,
        "counts_ok": all(states[f"mn-{i}"]["count"] == i + 100 for i in range(AGENTS)),
        "moved_off_victim": all(after[a]["node_id"] != victim.node_id for a in on_victim),
        "moved_epochs_bumped": all(after[a]["epoch"] > before[a]["epoch"] for a in on_victim),
        "others_untouched": all(
            after[a]["epoch"] == before[a]["epoch"] for a in before if a not in on_victim
        ),
        "recovery_seconds": round(recovery, 2),
    }


def main() -> None:
    store_dir, hosting = sys.argv[1], (sys.argv[2:] or ["dedicated"])[0]
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    workers = [cluster.add_node(num_cpus=1) for _ in range(2)]
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, log_to_driver=False)
    configure(namespace="multinode", store=f"file://{store_dir}", hosting=hosting)
    try:
        result = asyncio.run(scenario(cluster, workers))
    finally:
        ray.shutdown()
        cluster.shutdown()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
