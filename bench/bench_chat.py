"""Chat benchmark: time to first token and tokens/s through a ChatAgent (over a handle, and over
a WebSocket through the Serve ingress with `AgentClient`), against litellm called directly on the
same local fake model server, in the same run.

    .venv/bin/python bench/bench_chat.py

The fake server (`tests.fake_llm`, its own process) streams `TOKENS` tokens per reply with no
delay, so what shows is overhead: the agent's actor hop, its turn, and persisting each chunk
(one SQL row per chunk, a checkpoint per 64 chunks and per step); on the WebSocket path also
the replica hop and one JSON frame per chunk.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

# Ray workers inherit the environment of the raylet that ray.init starts: make `bench` importable.
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import httpx  # noqa: E402
import ray  # noqa: E402

import agents  # noqa: E402
from agents import get_agent  # noqa: E402
from agents.chat import Text, stream_completion  # noqa: E402
from agents.client import AgentClient  # noqa: E402
from bench.chat_agents import FAKE_LLM_URL, TOKENS, BenchChat  # noqa: E402
from bench.stats import Table, ms, ratio, summarize  # noqa: E402
from cluster.config import RuntimeConfig  # noqa: E402
from serve.app import start  # noqa: E402

ROUNDS = 10


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_fake_server() -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "tests.fake_llm", "--port", str(port)], cwd=ROOT)
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            probe = {"model": "tokens-1", "messages": []}
            httpx.post(f"{url}/chat/completions", json=probe).raise_for_status()
            return proc, url
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("fake model server did not start")


async def measure(pieces: Callable[[], AsyncIterator[str]]) -> tuple[float, float]:
    """(seconds to the first text piece, text pieces per second after it) of one reply."""
    start = time.perf_counter()
    first = 0.0
    count = 0
    async for _ in pieces():
        count += 1
        if count == 1:
            first = time.perf_counter()
    end = time.perf_counter()
    assert count >= TOKENS, f"only {count} pieces arrived"
    return first - start, (count - 1) / (end - first)


async def run(url: str, ingress: str) -> Table:
    async def direct() -> AsyncIterator[str]:
        messages = [{"role": "user", "content": "go"}]
        async for part in stream_completion(BenchChat.model, messages, [], api_base=url, api_key="x"):
            if isinstance(part, str):
                yield part

    chat_id = f"bench-{uuid.uuid4().hex[:8]}"
    chat = get_agent(BenchChat, chat_id)
    client = await AgentClient(f"{ingress.replace('http', 'ws', 1)}/agents/bench-chat/{chat_id}").connect()

    async def through_agent() -> AsyncIterator[str]:
        async for chunk in chat.chat("go"):
            if isinstance(chunk, Text):
                yield chunk.delta

    async def through_websocket() -> AsyncIterator[str]:
        async for chunk in client.stream("chat", "go"):
            if chunk["type"] == "text":
                yield chunk["delta"]

    await measure(direct)  # warm-up: imports, connections
    await measure(through_agent)  # warm-up: activation, litellm import in the agent process
    await measure(through_websocket)  # warm-up: the replica's route to the agent
    paths = {"direct": direct, "agent": through_agent, "websocket": through_websocket}
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in paths}
    for _ in range(ROUNDS):  # interleaved, so load changes hit every path alike
        for name, pieces in paths.items():
            results[name].append(await measure(pieces))
    await client.close()
    table = Table(
        f"Chat streaming, {TOKENS} tokens per reply, {ROUNDS} rounds (p50)",
        ["path", "first token", "ratio", "tokens/s", "ratio"],
    )
    base_ttft = summarize([r[0] for r in results["direct"]]).p50
    base_rate = summarize([r[1] for r in results["direct"]]).p50
    for name, samples in results.items():
        ttft = summarize([r[0] for r in samples]).p50
        tokens = summarize([r[1] for r in samples]).p50
        table.add(name, ms(ttft), ratio(ttft, base_ttft), f"{tokens:,.0f}", ratio(tokens, base_rate))
    return table


def main() -> None:
    proc, url = start_fake_server()
    os.environ[FAKE_LLM_URL] = url
    tmp = Path(tempfile.mkdtemp(prefix="ray-agents-bench-chat-"))
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        store = f"file://{tmp / 'store'}"
        agents.configure(namespace="bench-chat", store=store)
        ingress = start(
            [BenchChat], port=free_port(), runtime=RuntimeConfig(namespace="bench-chat", store_url=store)
        )
        print(asyncio.run(run(url, ingress)).text())
    finally:
        from ray import serve

        serve.shutdown()
        ray.shutdown()
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
