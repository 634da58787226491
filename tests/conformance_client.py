"""The MCP conformance suite's client scenarios (`npx @modelcontextprotocol/conformance client`)
against `self.mcp`: a manual run (a few minutes; Node 22 and the npm registry), not part of
`make test`.

    PYTHONPATH=. .venv/bin/python -m tests.conformance_client [SCENARIO ...]

Starts a local Ray and a Serve app (which takes OAuth callbacks), then runs each scenario with
this module as the suite's client command (`--run`): it connects to that Ray, has an agent add
the suite's server (with `oauth_callback` for the `auth/` scenarios), authorize it (following
the authorization server's redirect back through the app, as the user's browser would), list
its tools and call the first one with what its schema asks for.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import traceback
import uuid
from typing import Any

import httpx

from agents import Agent, callable, configure, get_agent

SCENARIOS = [
    "initialize",
    "tools_call",
    "auth/metadata-default",
    "auth/metadata-var1",
    "auth/metadata-var2",
    "auth/metadata-var3",
    "auth/basic-cimd",
    "auth/scope-from-www-authenticate",
    "auth/scope-from-scopes-supported",
    "auth/scope-omitted-when-undefined",
    "auth/scope-step-up",
    "auth/scope-retry-limit",
    "auth/token-endpoint-auth-basic",
    "auth/token-endpoint-auth-post",
    "auth/token-endpoint-auth-none",
    "auth/pre-registration",
    "auth/2025-03-26-oauth-metadata-backcompat",
    "auth/2025-03-26-oauth-endpoint-fallback",
]
NAMESPACE = "conformance-client"


class ConformanceUser(Agent):
    """The suite's client: one agent per scenario run."""

    type_name = "conformance-user"
    mcp_timeout = 20.0

    @callable
    async def add(self, url: str, callback: str | None) -> str | None:
        """Add the suite's server; for OAuth, start authorizing it (the URL to visit, if any)."""
        await self.mcp.add_server("suite", url, oauth_callback=callback)
        return None if callback is None else await self.mcp.authorize("suite")

    @callable
    async def use(self) -> str:
        """List the server's tools and call the first, with numbers for what its schema requires."""
        tools = await self.mcp.list_tools("suite")
        if not tools:
            return "no tools"
        tool = tools[0]
        args = {name: 1 for name in tool.input_schema.get("required", [])}
        return (await self.mcp.call_tool("suite", tool.name, args)).text


async def run(server_url: str, app_url: str, store: str) -> None:
    """One scenario, as the suite's client command."""
    import ray

    from tests.conformance_client import ConformanceUser as agent_cls  # by module, not __main__

    ray.init(address="auto", namespace=NAMESPACE, log_to_driver=False)
    configure(namespace=NAMESPACE, store=store)
    scenario = os.environ.get("MCP_CONFORMANCE_SCENARIO", "")
    user = get_agent(agent_cls, f"{scenario.replace('/', '-')}-{uuid.uuid4().hex[:6]}")
    url = await user.add(server_url, app_url if scenario.startswith("auth/") else None)
    if url is not None:
        async with httpx.AsyncClient(timeout=30) as browser:  # the user approves, and returns
            approved = await browser.get(url)
            back = await browser.get(approved.headers["location"])
            print(f"callback {back.status_code}: {back.text[-300:]}", file=sys.stderr)
    print(await user.use(), file=sys.stderr)


def main(scenarios: list[str]) -> int:
    import ray

    from cluster.config import RuntimeConfig
    from serve.app import start
    from tests.conformance_client import ConformanceUser as served  # by module, not __main__

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    store = f"file://{tempfile.mkdtemp(prefix='conformance-client-')}"
    ray.init(namespace=NAMESPACE, num_cpus=2, include_dashboard=False, log_to_driver=False)
    app_url = start([served], port=port, runtime=RuntimeConfig(namespace=NAMESPACE, store_url=store))
    command = f"{sys.executable} -m tests.conformance_client --run {app_url} {store}"
    failed = 0
    for scenario in scenarios:
        argv = ["npx", "-y", "@modelcontextprotocol/conformance", "client", "--command", command]
        done = subprocess.run([*argv, "--scenario", scenario], capture_output=True, text=True, env=os.environ)
        print(
            f"--- {scenario}: exit {done.returncode}\n{done.stdout[-1500:]}{done.stderr[-1500:]}", flush=True
        )
        failed += done.returncode != 0
    ray.shutdown()
    return 1 if failed else 0


def _arguments(argv: list[str]) -> Any:
    """`--run APP_URL STORE SERVER_URL` (the suite appends the server's URL), or scenarios."""
    if argv[:1] == ["--run"]:
        app_url, store, server_url = argv[1:4]
        try:
            asyncio.run(run(server_url, app_url, store))
        except Exception:  # the suite keeps no client output: leave it beside the store
            with open(f"{store.removeprefix('file://')}/client-errors.log", "a") as log:
                log.write(f"{os.environ.get('MCP_CONFORMANCE_SCENARIO')}:\n{traceback.format_exc()}\n")
            raise
        return 0
    return main(argv or SCENARIOS)


if __name__ == "__main__":
    sys.exit(_arguments(sys.argv[1:]))
