"""Agents' MCP endpoints: `/agents/{type}/{id}/mcp` over MCP's Streamable HTTP transport, for
classes with `@callable(mcp=True)` methods (`serve.mcp_tools`).

Built on the official SDK's low-level `Server`, one per class, each behind a session manager in
stateless mode: a replica keeps nothing between requests, so any replica may take any request
(Serve has no sticky sessions). The ingress runs the app's gate and finds the class before a
request gets here (`serve.http.handle`); a tool call is then an ordinary turn, the path HTTP RPC
takes (`serve.calls`), so the agent's `validate_request` and `should_be_readonly` judge it too.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any

import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from starlette.requests import Request as HttpRequest
from starlette.responses import JSONResponse, Response
from starlette.types import Message, Receive, Scope, Send

from agents.agent import Agent
from agents.errors import RequestTooLargeError
from agents.requests import Request
from cluster.methods import MethodSpec
from cluster.routing import Router
from serve import calls, http, mcp_tools
from serve.cors import Cors

#: Where a request's agent travels to the tool handlers: a key in its ASGI scope.
_TARGET = "ray_agents.mcp_target"


@dataclass(frozen=True)
class _Target:
    agent_id: str
    #: The request the agent's hooks see (the gate's headers set, the JSON-RPC body).
    request: Request


class McpEndpoint:
    """One replica's MCP servers, one per class that has tools."""

    def __init__(
        self, classes: Iterable[type[Agent]], router: Router, max_body_bytes: int, cors: Cors | None = None
    ) -> None:
        self._router = router
        self._max_body_bytes = max_body_bytes
        self._cors = cors
        self._managers = {
            cls: StreamableHTTPSessionManager(
                self._server(cls), stateless=True, max_request_body_size=max_body_bytes
            )
            for cls in classes
            if mcp_tools.tools(cls)
        }

    @property
    def classes(self) -> list[type[Agent]]:
        """The classes with MCP tools (none: no endpoint, nothing to run)."""
        return list(self._managers)

    def serves(self, agent_cls: type[Agent]) -> bool:
        return agent_cls in self._managers

    @contextlib.asynccontextmanager
    async def run(self) -> AsyncIterator[None]:
        """The SDK's task groups, for the app's lifespan (requests run in them)."""
        async with contextlib.AsyncExitStack() as stack:
            for manager in self._managers.values():
                await stack.enter_async_context(manager.run())
            yield

    async def respond(
        self, conn: HttpRequest, agent_cls: type[Agent], agent_id: str, headers: dict[str, str]
    ) -> Response:
        """Hand an admitted request to the class's MCP server. Refused here, as JSON-RPC errors:
        a page of an origin the app's `cors=` does not allow (MCP servers must check `Origin`
        against DNS rebinding; MCP clients that are not browsers send none), and an oversized
        body (the ingress's limit)."""
        origin = conn.headers.get("origin")
        if origin is not None and (self._cors is None or not self._cors.allows(origin)):
            message = (
                f"rejected: origin {origin} may not use this MCP endpoint (allow it with build_app(cors=...))"
            )
            return _error(types.INVALID_REQUEST, message, 403)
        try:
            body = await http.read_body(conn, self._max_body_bytes)
        except RequestTooLargeError as exc:
            return _error(types.INVALID_REQUEST, f"{exc.code}: {exc.message}", exc.status)
        conn.scope[_TARGET] = _Target(agent_id, http.agent_request(conn, "/mcp", body, headers))
        return _AsgiResponse(self._managers[agent_cls].handle_request, body)

    def _server(self, agent_cls: type[Agent]) -> Server[Any]:
        async def list_tools(
            ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
        ) -> types.ListToolsResult:
            return types.ListToolsResult(tools=[t.tool for t in mcp_tools.tools(agent_cls).values()])

        async def call_tool(
            ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
        ) -> types.CallToolResult:
            target: _Target = ctx.request.scope[_TARGET]
            tool = mcp_tools.lookup_tool(agent_cls, params.name)
            spec, kwargs = tool.spec, params.arguments or {}
            try:
                if spec.streaming:
                    value = await self._stream(ctx, agent_cls, target, spec, kwargs)
                else:
                    value = await calls.call(
                        self._router, agent_cls, target.agent_id, spec, target.request, (), kwargs
                    )
            except Exception as exc:  # the turn failed (and was rolled back): the model reads why
                return mcp_tools.error_result(exc)
            return tool.result(value)

        return Server(
            agent_cls.type_name,
            instructions=agent_cls.__doc__,
            on_list_tools=list_tools,
            on_call_tool=call_tool,
        )

    async def _stream(
        self,
        ctx: ServerRequestContext[Any],
        agent_cls: type[Agent],
        target: _Target,
        spec: MethodSpec,
        kwargs: dict[str, Any],
    ) -> list[Any]:
        """A stream's items, each reported as progress as it comes (when the client asked for
        progress with a `progressToken`), the message its JSON."""
        items: list[Any] = []
        async for item in calls.stream(
            self._router, agent_cls, target.agent_id, spec, target.request, (), kwargs
        ):
            items.append(item)
            await ctx.session.report_progress(len(items), message=json.dumps(http.jsonable(item)))
        return items


def _error(code: int, message: str, status: int) -> JSONResponse:
    """A JSON-RPC error for a request the endpoint refused before reading it as one."""
    error = {"code": code, "message": message}
    return JSONResponse({"jsonrpc": "2.0", "id": None, "error": error}, status_code=status)


class _AsgiResponse(Response):
    """A response that is an ASGI app (the SDK's transport, which may answer with an SSE
    stream), fed the body the ingress has already read."""

    def __init__(self, app: Any, body: bytes) -> None:
        super().__init__()
        self._app, self._body = app, body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return await receive()  # what follows the body: the client's disconnect
            sent = True
            return {"type": "http.request", "body": self._body, "more_body": False}

        await self._app(scope, replay, send)
