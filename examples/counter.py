"""A durable counter on an embedded local Ray: `make demo` (or `python examples/counter.py`).

Run it twice: the count carries on from where the last run stopped, because every acknowledged
call was checkpointed (to ~/.ray-agents/checkpoints by default).
"""

from __future__ import annotations

import asyncio

import ray

from agents import Agent, callable, get_agent, list_agents


class Counter(Agent):
    type_name = "demo-counter"  # examples/app.py's Counter is "counter": one name, one class
    initial_state = {"count": 0}

    async def on_start(self) -> None:
        self.sql("CREATE TABLE IF NOT EXISTS log(n INTEGER, at TEXT DEFAULT CURRENT_TIMESTAMP)")

    @callable
    async def add(self, n: int) -> int:
        self.set_state({"count": self.state["count"] + n})
        self.sql("INSERT INTO log(n) VALUES (?)", n)
        return self.state["count"]

    @callable(readonly=True)
    def history(self) -> list[dict]:
        return self.sql("SELECT n, at FROM log ORDER BY rowid DESC LIMIT 5")


async def main() -> None:
    ray.init(include_dashboard=False, log_to_driver=False)
    alice = get_agent(Counter, "alice")
    print("count is now", await alice.add(5))
    print("last additions:", await alice.history())
    cluster = await list_agents()
    print(f"live agents: {sorted(cluster['live'])}; activations so far: {cluster['activations']}")


if __name__ == "__main__":
    asyncio.run(main())
