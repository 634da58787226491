"""`self.mcp`: an agent's client of remote MCP servers (Streamable HTTP, the official SDK).

Registrations live in the agent's SQLite (`registry`), so they are part of the turn that made
them and survive hibernation and crashes; each call opens its own session (`session.exchange`),
bounded by the class's `mcp_timeout`. Every refusal and failure is a typed `McpError`, raised
before anything is sent when the input is at fault; a failed call changes nothing the agent stores.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from agents.errors import (
    InvalidMcpArgumentsError,
    InvalidMcpServerError,
    McpArgumentsTooLargeError,
    McpCallFailedError,
    McpError,
    McpProtocolError,
    UnknownMcpToolError,
)
from agents.mcp_client import oauth
from agents.mcp_client.oauth import Authorizations
from agents.mcp_client.registry import McpServer, Registration, ServerRegistry
from agents.mcp_client.session import exchange
from agents.requests import Request, Response

if TYPE_CHECKING:
    from agents.agent import Agent
    from agents.codemode import ToolSpec

T = TypeVar("T")
#: Pages of `tools/list` read at most (a server that pages forever is not followed further).
_MAX_PAGES = 50


@dataclass(frozen=True)
class McpTool:
    """A tool an MCP server lists: its name there, and the JSON schema of its arguments."""

    server: str
    name: str
    description: str
    input_schema: dict[str, Any]
    output_schema: dict[str, Any] | None = None

    def __str__(self) -> str:
        return f"{self.server}/{self.name}"

    def check(self, args: Mapping[str, Any]) -> None:
        """Refuse `args` that do not match `input_schema` (InvalidMcpArgumentsError)."""
        import jsonschema

        try:
            validator = jsonschema.validators.validator_for(self.input_schema)(self.input_schema)
            validator.check_schema(self.input_schema)
        except jsonschema.SchemaError as exc:
            raise McpProtocolError(f"MCP tool {self} has an invalid input schema: {exc.message}") from None
        problem = jsonschema.exceptions.best_match(validator.iter_errors(dict(args)))
        if problem is not None:
            where = "/".join(map(str, problem.absolute_path)) or "arguments"
            raise InvalidMcpArgumentsError(f"invalid arguments for {self}: {where}: {problem.message}")


@dataclass(frozen=True)
class McpToolResult:
    """What a tool call returned: its content blocks (MCP JSON) and structured content, if any."""

    content: list[dict[str, Any]] = field(default_factory=list)
    structured: Any = None

    @property
    def text(self) -> str:
        """The text blocks, one per line."""
        return "\n".join(block["text"] for block in self.content if block.get("type") == "text")


class McpClient:
    """An agent's MCP servers and the calls to them; `self.mcp` inside any agent."""

    def __init__(self, agent: Agent) -> None:
        self._agent = agent
        self._owner = type(agent)
        self._registry = ServerRegistry(agent.sql)
        self._oauth = Authorizations(self._registry)

    async def add_server(
        self,
        name: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        oauth_callback: str | None = None,
    ) -> McpServer:
        """Register a Streamable HTTP server under `name` (part of this turn; nothing is sent yet).
        `headers` (e.g. Authorization) go with every request and are never shown again.
        `oauth_callback` (the Serve app's public base URL) makes it an OAuth server: `authorize`
        it before calling it."""
        redirect = None
        if oauth_callback is not None:
            redirect = oauth.redirect_uri(oauth_callback, self._owner.type_name, self._agent.name, name)
        return self._registry.add(name, url, headers, redirect).public()

    async def remove_server(self, name: str) -> None:
        """Forget a server, its tokens and any authorization of it in progress."""
        self._registry.remove(name)
        self._oauth.forget(name)

    async def authorize(self, server: str) -> str | None:
        """Start authorizing an OAuth server (registered with `oauth_callback`): returns the URL
        to send the user to (the server's authorization page), or None if the tokens this agent
        holds still serve. The user's return to the app completes it; until then, and if the
        agent restarts first, calls fail with McpAuthorizationRequiredError."""
        registration = self._registry.get(server)
        if registration.redirect_uri is None:
            raise InvalidMcpServerError(f"MCP server {server!r} was not added with oauth_callback")

        async def connect(auth: Any) -> None:
            await exchange(registration, oauth.AUTHORIZATION_TIMEOUT_S, _connected, auth)

        url = await self._oauth.start(registration, connect, self._owner.mcp_timeout)
        if url is None:
            self._save(server)
        return url

    async def complete_authorization(self, request: Request) -> Response:
        """The authorization server's redirect back (`.../mcp-oauth/{server}?code=&state=`), as
        the ingress hands it over: a page telling the user whether the server is now connected."""
        server = request.path[len(oauth.CALLBACK_PREFIX) :]
        try:
            await self._oauth.complete(server, request.query, self._owner.mcp_timeout)
        except McpError as exc:
            return oauth.page("Not connected", f"{exc.code}: {exc.message or exc}", exc.status)
        return oauth.page("Connected", f"{server} is connected. You can close this window.", 200)

    async def list_servers(self) -> list[McpServer]:
        """The registered servers, oldest first (header names only)."""
        return [server.public() for server in self._registry.all()]

    async def list_tools(self, server: str | None = None) -> list[McpTool]:
        """The tools of one server, or of every registered server in turn (the first failure raises)."""
        servers = self._registry.all() if server is None else [self._registry.get(server)]
        tools: list[McpTool] = []
        for registration in servers:
            tools += await self._exchange(registration, functools.partial(_tools, server=registration.name))
        return tools

    async def call_tool(self, server: str, tool: str, args: Mapping[str, Any] | None = None) -> McpToolResult:
        """Call `tool` with `args`, checked against its input schema before they are sent; a
        result the server marks as an error raises McpCallFailedError with its text."""
        registration = self._registry.get(server)
        args = self._sized(args, f"{server}/{tool}")

        async def work(client: Any) -> McpToolResult:
            listed = {t.name: t for t in await _tools(client, server)}
            if tool not in listed:
                raise UnknownMcpToolError(f"MCP server {server!r} has no tool {tool!r}")
            listed[tool].check(args)
            result = await client.call_tool(tool, args)
            output = McpToolResult([_json(block) for block in result.content], result.structured_content)
            if result.is_error:
                raise McpCallFailedError(f"MCP tool {server}/{tool} failed: {output.text or 'no message'}")
            return output

        return await self._exchange(registration, work)

    async def read_resource(self, server: str, uri: str) -> list[dict[str, Any]]:
        """The contents of a resource (MCP JSON: `uri`, `mimeType`, and `text` or base64 `blob`)."""
        registration = self._registry.get(server)

        async def work(client: Any) -> list[dict[str, Any]]:
            result = await client.read_resource(uri)
            return [_json(part) for part in result.contents]

        return await self._exchange(registration, work)

    async def get_prompt(
        self, server: str, name: str, args: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        """A prompt filled with `args` (strings): `{"description"?, "messages": [...]}` in MCP JSON."""
        registration = self._registry.get(server)
        args = self._sized(args, f"{server}/{name}")
        if not all(isinstance(value, str) for value in args.values()):
            raise InvalidMcpArgumentsError(f"the arguments of prompt {server}/{name} are strings")

        async def work(client: Any) -> dict[str, Any]:
            result = await client.get_prompt(name, args)
            return {key: value for key, value in _json(result).items() if key in ("description", "messages")}

        return await self._exchange(registration, work)

    async def tools(self, server: str) -> list[ToolSpec]:
        """The server's tools as Code Mode tools (`run_code(code, tools=[*await self.mcp.tools("s")])`),
        named as Python identifiers (`get-sum` -> `get_sum`)."""
        from agents.mcp_client.codemode import tool_specs

        return tool_specs(self, await self.list_tools(server))

    def _sized(self, args: Mapping[str, Any] | None, what: str) -> dict[str, Any]:
        """`args` as a dict of JSON values within `mcp_max_argument_bytes`, else a typed refusal."""
        if args is None:
            return {}
        if not isinstance(args, Mapping) or not all(isinstance(key, str) for key in args):
            raise InvalidMcpArgumentsError(f"the arguments of {what} are a mapping of names to values")
        try:
            size = len(json.dumps(args, allow_nan=False).encode())
        except (TypeError, ValueError) as exc:
            raise InvalidMcpArgumentsError(f"the arguments of {what} are not JSON: {exc}") from None
        limit = self._owner.mcp_max_argument_bytes
        if limit is not None and size > limit:
            raise McpArgumentsTooLargeError(
                f"the arguments of {what} are {size} bytes as JSON, over {self._owner.__name__}."
                f"mcp_max_argument_bytes ({limit})"
            )
        return dict(args)

    @property
    def authorizing(self) -> bool:
        """Whether an OAuth authorization waits for its user (the agent stays live meanwhile)."""
        return self._oauth.in_progress

    def close(self) -> None:
        """End the authorizations in progress (the agent is leaving memory)."""
        self._oauth.close()

    async def _exchange(self, registration: Registration, work: Callable[[Any], Awaitable[T]]) -> T:
        if registration.redirect_uri is None:
            return await exchange(registration, self._owner.mcp_timeout, work)
        try:
            return await exchange(registration, self._owner.mcp_timeout, work, self._oauth.auth(registration))
        finally:  # refreshed tokens
            self._save(registration.name)

    def _save(self, server: str) -> None:
        """Keep changed credentials in SQLite, unless this turn is read-only (then they serve
        this activation until a turn that may write calls the server)."""
        if not self._agent._runtime.turn_is_readonly():
            self._oauth.save(server)


async def _connected(client: Any) -> None:
    """The work of an exchange that only connects (the session's initialization is the point)."""


async def _tools(client: Any, server: str) -> list[McpTool]:
    """Every tool the connected server lists, following pages."""
    tools: list[McpTool] = []
    cursor = None
    for _ in range(_MAX_PAGES):
        page = await client.list_tools(cursor=cursor)
        tools += [
            McpTool(server, t.name, t.description or t.title or t.name, t.input_schema, t.output_schema)
            for t in page.tools
        ]
        cursor = page.next_cursor
        if cursor is None:
            break
    return tools


def _json(model: Any) -> dict[str, Any]:
    """An SDK model as the JSON MCP sends (camelCase keys, unset fields left out)."""
    return model.model_dump(mode="json", by_alias=True, exclude_none=True)
