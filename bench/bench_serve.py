"""Ingress benchmark: HTTP and WebSocket RPC through ray-agents vs a bare Serve deployment calling a
bare Ray actor (same run, same machine), and the fan-out time of one state change to N sockets.

    .venv/bin/python bench/bench_serve.py [--calls 300] [--fanout 100,1000]
"""

import argparse
import asyncio
import http.client
import json
import os
import pathlib
import sys
import tempfile
import threading
import time
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

import ray  # noqa: E402
import websockets  # noqa: E402
from fastapi import FastAPI, Request, WebSocket  # noqa: E402
from ray import serve  # noqa: E402

from agents import configure, get_agent  # noqa: E402
from agents.client import AgentClient  # noqa: E402
from bench.stats import percentile  # noqa: E402
from cluster.config import RuntimeConfig  # noqa: E402
from examples.app import Counter  # noqa: E402
from serve.app import build_app  # noqa: E402

bare_api = FastAPI()


@ray.remote(num_cpus=0)
class BareCounter:
    def __init__(self) -> None:
        self.count = 0

    def add(self, n: int) -> int:
        self.count += n
        return self.count


@serve.deployment(max_ongoing_requests=10_000)
@serve.ingress(bare_api)
class Bare:
    def __init__(self) -> None:
        self.actor = BareCounter.remote()

    @bare_api.post("/bare/rpc")
    async def rpc(self, request: Request) -> int:
        return await self.actor.add.remote(*(await request.json()))

    @bare_api.websocket("/bare/ws")
    async def ws(self, websocket: WebSocket) -> None:
        await websocket.accept()
        while True:
            frame = json.loads(await websocket.receive_text())
            value = await self.actor.add.remote(*frame["args"])
            await websocket.send_text(json.dumps({"type": "result", "id": frame["id"], "value": value}))


def http_latencies(port: int, path: str, calls: int) -> list[float]:
    conn = http.client.HTTPConnection("127.0.0.1", port)
    out = []
    for _ in range(calls):
        started = time.perf_counter()
        conn.request("POST", path, body=b"[1]", headers={"content-type": "application/json"})
        conn.getresponse().read()
        out.append(time.perf_counter() - started)
    return out


def http_throughput(port: int, path: str, threads: int, seconds: float) -> float:
    done = [0] * threads
    stop = time.monotonic() + seconds

    def worker(i: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port)
        while time.monotonic() < stop:
            conn.request("POST", path, body=b"[1]", headers={"content-type": "application/json"})
            conn.getresponse().read()
            done[i] += 1

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return sum(done) / seconds


async def ws_latencies(call: Any, calls: int) -> list[float]:
    out = []
    for _ in range(calls):
        started = time.perf_counter()
        await call()
        out.append(time.perf_counter() - started)
    return out


async def ws_throughput(call: Any, in_flight: int, seconds: float) -> float:
    done = 0
    stop = time.monotonic() + seconds

    async def worker() -> None:
        nonlocal done
        while time.monotonic() < stop:
            await call()
            done += 1

    await asyncio.gather(*(worker() for _ in range(in_flight)))
    return done / seconds


async def bare_ws_caller(url: str) -> tuple[Any, Any]:
    ws = await websockets.connect(url)
    lock = asyncio.Lock()
    ids = iter(range(1, 10**9))

    async def call() -> None:
        async with lock:  # one raw socket: request/response in lock step
            await ws.send(json.dumps({"id": str(next(ids)), "args": [1]}))
            await ws.recv()

    return ws, call


async def fanout(base: str, n: int) -> float:
    agent_id = f"fan-{n}-{time.time_ns()}"
    target = 1
    seen = asyncio.Event()
    count = 0

    def on_state(state: dict) -> None:
        nonlocal count
        if state["count"] == target:
            count += 1
            if count == n:
                seen.set()

    clients = [AgentClient(f"{base}/agents/counter/{agent_id}", on_state=on_state) for _ in range(n)]
    for i in range(0, n, 50):
        await asyncio.gather(*(c.connect(timeout=120) for c in clients[i : i + 50]))
    started = time.perf_counter()
    await get_agent(Counter, agent_id).add(1)
    await asyncio.wait_for(seen.wait(), 120)
    elapsed = time.perf_counter() - started
    await asyncio.gather(*(c.close() for c in clients))
    return elapsed


async def run(args: argparse.Namespace) -> None:
    port = args.port
    store = f"file://{tempfile.mkdtemp(prefix='bench-serve-')}"
    runtime = RuntimeConfig(namespace="bench-serve", store_url=store)
    configure(namespace="bench-serve", store=store)
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    base = f"ws://127.0.0.1:{port}"
    # One app at a time on "/" (the bare one first), so neither competes with the other for the CPU.
    serve.run(Bare.bind(), name="bare", route_prefix="/")
    await asyncio.to_thread(http_latencies, port, "/bare/rpc", 20)  # warm up
    bare = await asyncio.to_thread(http_latencies, port, "/bare/rpc", args.calls)
    bare_tp = await asyncio.to_thread(http_throughput, port, "/bare/rpc", 8, args.seconds)
    ws, bare_call = await bare_ws_caller(f"{base}/bare/ws")
    await ws_latencies(bare_call, 20)
    ws_bare = await ws_latencies(bare_call, args.calls)
    ws_bare_tp = await ws_throughput(bare_call, 1, args.seconds)
    await ws.close()
    serve.delete("bare")

    serve.run(build_app([Counter], runtime=runtime), name="ray-agents", route_prefix="/")
    await asyncio.to_thread(http_latencies, port, "/agents/counter/bench/rpc/add", 20)  # warm up
    ours = await asyncio.to_thread(http_latencies, port, "/agents/counter/bench/rpc/add", args.calls)
    ours_tp = await asyncio.to_thread(http_throughput, port, "/agents/counter/bench/rpc/add", 8, args.seconds)
    client = await AgentClient(f"{base}/agents/counter/bench-ws").connect()
    await ws_latencies(lambda: client.call("add", 1), 20)
    ws_ours = await ws_latencies(lambda: client.call("add", 1), args.calls)
    ws_ours_tp = await ws_throughput(lambda: client.call("add", 1), 16, args.seconds)
    await client.close()
    results = [("HTTP RPC latency", *_p(ours), *_p(bare)), ("WS RPC latency", *_p(ws_ours), *_p(ws_bare))]

    print(f"{'':<20}{'ours p50':>10}{'p99':>9}{'bare p50':>10}{'p99':>9}{'p50 ratio':>11}")
    for name, o50, o99, b50, b99 in results:
        print(f"{name:<20}{o50:>9.2f}ms{o99:>7.2f}ms{b50:>9.2f}ms{b99:>7.2f}ms{o50 / b50:>10.2f}x")
    print(
        f"HTTP RPC throughput  ours {ours_tp:7.0f}/s  bare {bare_tp:7.0f}/s  "
        f"ratio {ours_tp / bare_tp:.2f}x (8 threads)"
    )
    print(
        f"WS RPC throughput    ours {ws_ours_tp:7.0f}/s (16 in flight, 1 socket)  "
        f"bare {ws_bare_tp:7.0f}/s (lock-step)  ratio {ws_ours_tp / ws_bare_tp:.2f}x"
    )
    for n in args.fanout:
        print(f"fan-out of one state change to {n:>5} sockets: {await fanout(base, n) * 1000:8.1f} ms")


def _p(samples: list[float]) -> tuple[float, float]:
    return percentile(samples, 50) * 1000, percentile(samples, 99) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--fanout", type=lambda s: [int(x) for x in s.split(",")], default=[100, 1000])
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        asyncio.run(run(args))
    finally:
        serve.shutdown()
        ray.shutdown()


if __name__ == "__main__":
    main()
