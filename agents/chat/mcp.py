"""The tools of an agent's MCP servers (`self.mcp`), offered to its chat model next to its own.

Each is named `server__tool` for the model (`chat_name`: as a model API takes names), takes
the server's input schema as its parameters, and runs through `McpClient.call_tool`, so the
arguments are checked against that schema and every failure (a refusal, a dead server, a tool
error) reaches the model as an error result. A server that cannot list its tools is left out of
that model step, with a warning in the log; the others still count.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from agents.chat.tools import ToolResult
from agents.errors import McpError
from agents.mcp_client import McpClient, McpTool

log = logging.getLogger("ray_agents.chat")
#: The longest function name OpenAI's and Anthropic's APIs take (a longer one fails the request).
MAX_NAME = 64


@dataclass(frozen=True)
class McpChatTool:
    """One MCP server's tool as the chat loop sees it (a `ChatTool`)."""

    name: str
    tool: McpTool
    client: McpClient
    needs_approval: bool

    def schema(self) -> dict[str, Any]:
        parameters = {k: v for k, v in self.tool.input_schema.items() if k != "$schema"}
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.tool.description, "parameters": parameters},
        }

    async def run(self, arguments: str) -> ToolResult:
        try:
            values = json.loads(arguments or "{}")
        except ValueError:
            return ToolResult(f"invalid arguments for {self.name}: not JSON", is_error=True)
        try:
            result = await self.client.call_tool(self.tool.server, self.tool.name, values)
        except McpError as exc:
            return ToolResult(f"{self.name} failed: {exc.code}: {exc.message}", is_error=True)
        return ToolResult(result.text or json.dumps(result.structured or result.content))


def chat_name(server: str, tool: str) -> str:
    """`server__tool` as a model API takes a function name: characters outside `[A-Za-z0-9_-]`
    become `_`, and a name over MAX_NAME is cut, ending in a hash of the whole name (so two long
    names that share their start stay apart, and each stays the same from call to call)."""
    name = re.sub(r"[^A-Za-z0-9_-]", "_", f"{server}__{tool}")
    if len(name) <= MAX_NAME:
        return name
    digest = hashlib.sha256(f"{server}__{tool}".encode()).hexdigest()[:8]
    return f"{name[: MAX_NAME - 9]}_{digest}"


async def mcp_tools(client: McpClient, needs_approval: Sequence[str]) -> dict[str, McpChatTool]:
    """The registered servers' tools by their chat names; `needs_approval` holds fnmatch patterns."""
    tools: dict[str, McpChatTool] = {}
    for server in await client.list_servers():
        try:
            listed = await client.list_tools(server.name)
        except McpError as exc:
            log.warning("the tools of MCP server %r are left out: %s", server.name, exc.message)
            continue
        for tool in listed:
            name = chat_name(server.name, tool.name)
            if name in tools:
                log.warning(
                    "MCP tools %s and %s share the chat name %r; the model sees the latter",
                    tools[name].tool,
                    tool,
                    name,
                )
            approval = any(fnmatch.fnmatchcase(name, pattern) for pattern in needs_approval)
            tools[name] = McpChatTool(name, tool, client, approval)
    return tools
