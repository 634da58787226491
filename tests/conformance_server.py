"""The MCP conformance suite (`npx @modelcontextprotocol/conformance server`) against an agent's
MCP endpoint: a manual run (about 1 minute, and it needs Node 22 and the npm registry), not part
of `make test`.

    PYTHONPATH=. .venv/bin/python -m tests.conformance_server [SCENARIO ...]

Starts a local Ray and Serve with `Conformance` (the tools the suite's scenarios call, as agent
methods), runs the server scenarios, and prints the suite's summary for each.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator

import pydantic

from agents import Agent, callable, prompt

#: The scenarios that apply to what the endpoint offers (tools, the state resource, prompts); the
#: others are listed in README.
SCENARIOS = [
    "server-initialize",
    "ping",
    "tools-list",
    "tools-call-simple-text",
    "tools-call-error",
    "tools-call-with-progress",
    "json-schema-2020-12",
    "server-sse-multiple-streams",
    "dns-rebinding-protection",
    "resources-list",
    "prompts-list",
    "prompts-get-simple",
    "prompts-get-with-args",
]


class address(pydantic.BaseModel):  # the suite looks for `$defs.address`
    street: str
    city: str


class Conformance(Agent):
    """The tools the conformance suite calls."""

    hosting = "pooled"
    mcp_state_resource = True

    @prompt
    def test_simple_prompt(self) -> str:
        """A prompt without arguments."""
        return "This is a simple prompt for testing."

    @prompt
    def test_prompt_with_arguments(self, arg1: str, arg2: str) -> str:
        """A prompt with two arguments."""
        return f"Prompt with arguments: arg1='{arg1}', arg2='{arg2}'"

    @callable(mcp=True)
    def test_simple_text(self) -> str:
        """Returns a simple text."""
        return "This is a simple text response for testing."

    @callable(mcp=True)
    def test_error_handling(self) -> str:
        """Always fails."""
        raise RuntimeError("This tool intentionally returns an error for testing")

    @callable(mcp=True)
    def json_schema_2020_12_tool(self, name: str, address: address) -> str:
        """A tool whose input schema has `$defs` (JSON Schema 2020-12)."""
        return f"{name} lives in {address.city}"

    @callable(mcp=True)
    async def test_tool_with_progress(self) -> AsyncIterator[int]:
        """Reports progress three times (one streamed item each)."""
        for step in (0, 50, 100):
            yield step
            await asyncio.sleep(0.05)


def main(scenarios: list[str]) -> int:
    import ray

    from serve.app import start

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    url = start([Conformance], port=port) + "/agents/conformance/suite/mcp"
    failed = 0
    for scenario in scenarios:
        command = [
            "npx",
            "-y",
            "@modelcontextprotocol/conformance",
            "server",
            "--url",
            url,
            "--scenario",
            scenario,
        ]
        run = subprocess.run(command, capture_output=True, text=True, env=os.environ)
        print(f"--- {scenario}: exit {run.returncode}\n{run.stdout[-1500:]}{run.stderr[-500:]}", flush=True)
        failed += run.returncode != 0
    ray.shutdown()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or SCENARIOS))
