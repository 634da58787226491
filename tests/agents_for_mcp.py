"""Agents the MCP client tests exercise (importable by Ray workers)."""

from __future__ import annotations

import os
from typing import Any

from agents import Agent, callable
from agents.chat import ChatAgent
from agents.codemode import Limits
from tests.agents_for_chat import FAKE_LLM_URL


class McpUser(Agent):
    """Exposes `self.mcp` to the tests, one callable per method."""

    initial_state = {"calls": 0}
    mcp_timeout = 3.0
    mcp_max_argument_bytes = 4096

    @callable
    async def add_server(self, name: str, url: str, headers: dict[str, str] | None = None) -> str:
        return (await self.mcp.add_server(name, url, headers=headers)).name

    @callable
    async def add_server_then_fail(self, name: str, url: str) -> None:
        await self.mcp.add_server(name, url)
        raise RuntimeError("the turn fails after add_server")

    @callable
    async def remove_server(self, name: str) -> None:
        await self.mcp.remove_server(name)

    @callable
    async def servers(self) -> list[dict[str, Any]]:
        return [vars(server) for server in await self.mcp.list_servers()]

    @callable
    async def tool_names(self, server: str | None = None) -> list[str]:
        return [f"{tool.server}/{tool.name}" for tool in await self.mcp.list_tools(server)]

    @callable
    async def call(self, server: str, tool: str, args: Any = None) -> dict[str, Any]:
        self.set_state({"calls": self.state["calls"] + 1})  # rolled back if the call fails
        result = await self.mcp.call_tool(server, tool, args)
        return {"text": result.text, "content": result.content, "structured": result.structured}

    @callable
    async def read(self, server: str, uri: str) -> list[dict[str, Any]]:
        return await self.mcp.read_resource(server, uri)

    @callable
    async def prompt(self, server: str, name: str, args: Any = None) -> dict[str, Any]:
        return await self.mcp.get_prompt(server, name, args)

    @callable
    async def calls(self) -> int:
        return self.state["calls"]

    @callable
    async def program(self, server: str, code: str) -> dict[str, Any]:
        """Code Mode (Python) with the server's tools."""
        tools = await self.mcp.tools(server)
        result = await self.run_code(code, tools=tools, language="python", limits=Limits(timeout_s=20))
        return {"result": result.result, "error": result.error}


class OAuthMcpUser(McpUser):
    """An McpUser of OAuth servers, in a process of its own (tests SIGKILL it); served by the
    tests' Serve app, which takes the authorization servers' callbacks."""

    type_name = "oauth-user"
    hosting = "dedicated"

    @callable
    async def add_oauth_server(self, name: str, url: str, callback: str) -> str | None:
        return (await self.mcp.add_server(name, url, oauth_callback=callback)).redirect_uri

    @callable
    async def authorize(self, name: str) -> str | None:
        return await self.mcp.authorize(name)

    @callable(readonly=True)
    async def tool_names_readonly(self, server: str) -> list[str]:
        return [tool.name for tool in await self.mcp.list_tools(server)]


class SleepyMcpUser(McpUser):
    idle_timeout = 0.5


class McpAssistant(ChatAgent):
    """A chat agent whose model (the fake server, key = agent id) sees its MCP servers' tools;
    `get-sum` needs approval, `echo` does not."""

    max_steps = 3
    mcp_needs_approval = ("*__get-sum",)

    @property
    def model(self) -> str:  # type: ignore[override]
        return f"openai/{self.name}"

    @property
    def model_options(self) -> dict[str, Any]:  # type: ignore[override]
        return {"api_base": os.environ[FAKE_LLM_URL], "api_key": "x"}

    @callable
    async def add_server(self, name: str, url: str) -> None:
        await self.mcp.add_server(name, url)
