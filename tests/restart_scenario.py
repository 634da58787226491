"""A whole-cluster restart with an alarm due while the cluster is down. Run as a script, twice:

    python tests/restart_scenario.py arm STORE_DIR       # schedule, then take the cluster down
    python tests/restart_scenario.py recover STORE_DIR   # new cluster: the missed run runs once

Each phase starts (and stops) its own local Ray; prints one JSON line for test_restart.py.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

import ray

from agents import configure, get_agent, list_agents, start
from cluster.naming import agent_key
from tests.agents_for_scheduling import Dozer

AGENT = "restart-1"


async def arm() -> dict:
    dozer = get_agent(Dozer, AGENT)
    await dozer.after(1.0, "missed-while-down")
    return {"due_in": 1.0}


async def recover() -> dict:
    await start()  # nobody calls the agent: the controller's alarm loop must wake it
    key = agent_key("dozer", AGENT)
    deadline = time.monotonic() + 60
    while key not in (await list_agents())["live"]:
        if time.monotonic() > deadline:
            return {"woken": False}
        await asyncio.sleep(0.1)
    return {"woken": True, "runs": await get_agent(Dozer, AGENT).runs()}


def main() -> None:
    phase, store_dir = sys.argv[1], sys.argv[2]
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    configure(namespace="restart", store=f"file://{store_dir}")
    try:
        result = asyncio.run(arm() if phase == "arm" else recover())
    finally:
        ray.shutdown()  # the whole local cluster goes down with its driver
    print(json.dumps(result))


if __name__ == "__main__":
    main()
