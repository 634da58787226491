"""Headless Chromium driven over the DevTools protocol, for end-to-end tests of web pages."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import shutil
import subprocess
import time
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import websockets

from tests.conftest import free_port
from tests.services import missing

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


class Page:
    """One tab driven over the DevTools protocol."""

    def __init__(self, ws: Any) -> None:
        self._ws = ws
        self._ids = itertools.count(1)

    async def send(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """One DevTools command's result (`Page.captureScreenshot`, `Emulation....`)."""
        call_id = next(self._ids)
        await self._ws.send(json.dumps({"id": call_id, "method": method, "params": params or {}}))
        while True:
            reply = json.loads(await asyncio.wait_for(self._ws.recv(), 30))
            if reply.get("id") == call_id:
                if "error" in reply:
                    raise AssertionError(f"{method} failed: {reply['error']}")
                return reply["result"]

    async def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (returned by value)."""
        result = await self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in result:
            raise AssertionError(f"{expression} raised: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def resize(self, width: int, height: int, mobile: bool = False) -> None:
        """Show the page in a viewport of this size (a phone's, with `mobile`)."""
        await self.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile},
        )

    async def screenshot(self, path: Path) -> None:
        """Save what the viewport shows as a PNG."""
        shot = await self.send("Page.captureScreenshot", {"format": "png"})
        path.write_bytes(base64.b64decode(shot["data"]))

    async def wait_for(self, expression: str, expected: Any, timeout: float = 60) -> None:
        """Poll `expression` until it equals `expected` (DOM changes have no event to await here)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                value = await self.evaluate(expression)
            except AssertionError as exc:  # e.g. the page has not loaded yet
                value = exc
            if value == expected:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"{expression} is {value!r}, expected {expected!r}")
            await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def open_page(url: str, profile: Path) -> AsyncIterator[Page]:
    """Start headless Chromium on `url` (with a fresh profile directory) and drive its tab."""
    if CHROMIUM is None:
        missing("Chromium", "chromium")
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
            f"--user-data-dir={profile}",
            f"--remote-debugging-port={port}",
            url,
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
