"""Telemetry benchmark: the cost of events, the event feed and metrics on calls, in one run.

    .venv/bin/python bench/bench_events.py [--calls 2000]

Four actors, each in a process of its own, called one call at a time in interleaved rounds: a
raw Ray actor; an agent whose host has telemetry off (no feed, no metrics, no subscriber); one
as deployed (`cluster.telemetry`: the event feed and Ray metrics on); and one as deployed that
also sends every event to a JSON-lines sink (`/dev/null`). Reads (`get`: one `rpc` event) and
writes (`add`: `rpc`, `state:update` and `checkpoint`). Prints p50 and p99 and the ratios.
"""

import argparse
import asyncio
import os
import pathlib
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

import ray  # noqa: E402

from agents import configure, get_agent  # noqa: E402
from bench.agents_under_bench import QuietCounter, TelemetryCounter, WatchedCounter  # noqa: E402
from bench.measure import interleaved  # noqa: E402
from bench.raw_actors import RawCounter  # noqa: E402


async def run(calls: int) -> None:
    raw = ray.remote(RawCounter).remote()
    quiet, deployed, watched = (get_agent(c, "a") for c in (QuietCounter, TelemetryCounter, WatchedCounter))
    await raw.get.remote()
    for agent in (quiet, deployed, watched):
        await agent.get()

    def calls_of(method: str, args: tuple) -> dict:
        return {
            "raw Ray actor": lambda: getattr(raw, method).remote(*args),
            "telemetry off": lambda: getattr(quiet, method)(*args),
            "telemetry on": lambda: getattr(deployed, method)(*args),
            "on + JSON sink": lambda: getattr(watched, method)(*args),
        }

    for method, args in (("get", ()), ("add", (1,))):
        results = await interleaved(calls_of(method, args), calls)
        print(f"\n{method}: {calls} sequential calls each, interleaved")
        for name, summary in results.items():
            print(f"  {name:<15} p50 {summary.p50 * 1000:6.3f} ms   p99 {summary.p99 * 1000:6.3f} ms")
        on, off, bare = results["telemetry on"], results["telemetry off"], results["raw Ray actor"]
        sink = results["on + JSON sink"]
        print(f"  telemetry on / off: p50 {on.p50 / off.p50:.3f}x, p99 {on.p99 / off.p99:.3f}x")
        print(f"  on + JSON sink / off: p50 {sink.p50 / off.p50:.3f}x, p99 {sink.p99 / off.p99:.3f}x")
        print(
            f"  vs raw Ray (p50): off {off.p50 / bare.p50:.2f}x, on {on.p50 / bare.p50:.2f}x,"
            f" on + sink {sink.p50 / bare.p50:.2f}x"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=2000)
    calls = parser.parse_args().calls
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    configure(namespace="bench-events", store=f"file://{tempfile.mkdtemp(prefix='bench-events-')}")
    asyncio.run(run(calls))
    ray.shutdown()


if __name__ == "__main__":
    main()
