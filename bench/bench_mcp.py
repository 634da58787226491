"""MCP benchmark: one tool call through an agent's MCP endpoint vs the same method over HTTP RPC,
in one run (the same agent, Serve app and machine; both write a checkpoint per call).

    .venv/bin/python bench/bench_mcp.py [--calls 300]

MCP calls go through the official SDK's client (one initialized session, each call one POST
answered with an SSE stream); RPC calls through one keep-alive `http.client` connection.
"""

import argparse
import asyncio
import http.client
import os
import pathlib
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

import ray  # noqa: E402
from mcp import ClientSession  # noqa: E402
from mcp.client.streamable_http import streamable_http_client  # noqa: E402

from bench.agents_under_bench import McpCounter  # noqa: E402
from bench.stats import percentile  # noqa: E402
from cluster.config import RuntimeConfig  # noqa: E402
from serve.app import start  # noqa: E402


def rpc_latencies(port: int, path: str, calls: int) -> list[float]:
    conn = http.client.HTTPConnection("127.0.0.1", port)
    out = []
    for _ in range(calls):
        started = time.perf_counter()
        conn.request("POST", path, body=b'{"n": 1}', headers={"content-type": "application/json"})
        conn.getresponse().read()
        out.append(time.perf_counter() - started)
    return out


async def mcp_latencies(url: str, calls: int) -> list[float]:
    out = []
    async with streamable_http_client(url) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        for _ in range(calls):
            started = time.perf_counter()
            result = await session.call_tool("add", {"n": 1})
            out.append(time.perf_counter() - started)
            assert not result.is_error, result
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--port", type=int, default=8123)
    options = parser.parse_args()
    calls, port = options.calls, options.port
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    store = f"file://{tempfile.mkdtemp(prefix='bench-mcp-')}"
    base = start([McpCounter], port=port, runtime=RuntimeConfig(namespace="bench-mcp", store_url=store))
    rpc_path, mcp_url = "/agents/mcp-counter/a/rpc/add", f"{base}/agents/mcp-counter/a/mcp"
    rpc_latencies(port, rpc_path, 20)  # warm up: the agent, connections, both code paths
    asyncio.run(mcp_latencies(mcp_url, 20))
    results = {
        "HTTP RPC": rpc_latencies(port, rpc_path, calls),
        "MCP tools/call": asyncio.run(mcp_latencies(mcp_url, calls)),
    }
    print(f"{calls} sequential calls of McpCounter.add (a write: one checkpoint each), file store")
    print(f"{'':<16}{'p50':>9}{'p99':>10}")
    for name, samples in results.items():
        print(f"{name:<16}{percentile(samples, 50) * 1000:>7.2f}ms{percentile(samples, 99) * 1000:>8.2f}ms")
    mcp, rpc = results["MCP tools/call"], results["HTTP RPC"]
    ratio = {q: percentile(mcp, q) / percentile(rpc, q) for q in (50, 99)}
    print(f"MCP / RPC: p50 {ratio[50]:.2f}x, p99 {ratio[99]:.2f}x")
    ray.shutdown()


if __name__ == "__main__":
    main()
