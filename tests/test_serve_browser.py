"""End to end in headless Chromium: the example page loads agents.js, syncs state and calls methods."""

from __future__ import annotations

import asyncio
import itertools
import json
import shutil
import subprocess
import time
import urllib.request
from collections.abc import AsyncIterator
from typing import Any

import pytest
import websockets

from agents import get_agent
from examples.app import Counter
from tests.conftest import free_port

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium)"
)


class Page:
    """One tab driven over the DevTools protocol."""

    def __init__(self, ws: Any) -> None:
        self._ws = ws
        self._ids = itertools.count(1)

    async def evaluate(self, expression: str) -> Any:
        call_id = next(self._ids)
        await self._ws.send(
            json.dumps(
                {
                    "id": call_id,
                    "method": "Runtime.evaluate",
                    "params": {"expression": expression, "returnByValue": True},
                }
            )
        )
        while True:
            reply = json.loads(await asyncio.wait_for(self._ws.recv(), 30))
            if reply.get("id") == call_id:
                return reply["result"]["result"].get("value")

    async def wait_for(self, expression: str, expected: Any, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while (value := await self.evaluate(expression)) != expected:
            if time.monotonic() > deadline:
                raise AssertionError(f"{expression} is {value!r}, expected {expected!r}")
            await asyncio.sleep(0.05)


@pytest.fixture
async def browser_page(served: str, agent_id: str, tmp_path) -> AsyncIterator[Page]:
    port = free_port()
    proc = subprocess.Popen(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={tmp_path}",
            f"--remote-debugging-port={port}",
            f"{served}/?id={agent_id}&clicks=3",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        targets: list[dict[str, Any]] = []
        deadline = time.monotonic() + 30
        while not targets:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5) as r:
                    targets = [t for t in json.load(r) if t["type"] == "page"]
            except OSError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.1)
        async with websockets.connect(targets[0]["webSocketDebuggerUrl"], max_size=None) as ws:
            yield Page(ws)
    finally:
        proc.kill()
        proc.wait(10)


async def test_example_page_syncs_state_and_calls_methods(browser_page: Page, agent_id: str) -> None:
    await browser_page.wait_for("document.getElementById('status').textContent", "clicked 3")
    assert await get_agent(Counter, agent_id).get() == 3
    await browser_page.wait_for("document.getElementById('count').textContent", "3")
    await get_agent(Counter, agent_id).add(10)  # pushed to the page by the agent
    await browser_page.wait_for("document.getElementById('count').textContent", "13")
