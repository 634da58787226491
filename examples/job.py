"""A `ray job submit` script calling the example app's agents: the ones its web page shows.

    ray job submit --working-dir . -- python -m examples.job alice 5

Serve (`serve deploy deploy/serve.yaml`) and jobs may start in either order: they share one
controller and one checkpoint store per namespace.
"""

from __future__ import annotations

import sys

import ray

from agents import get_agent
from examples.app import Counter


def main(agent_id: str, n: int) -> None:
    ray.init()
    print(f"counter {agent_id} is now {get_agent(Counter, agent_id).sync.add(n)}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 1)
