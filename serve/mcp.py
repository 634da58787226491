"""Agents' MCP endpoints: `/agents/{type}/{id}/mcp` over MCP's Streamable HTTP transport, for
classes with `@callable(mcp=True)` methods (tools, `serve.mcp_tools`), `@prompt` methods
(`serve.mcp_prompts`) or `mcp_state_resource` (`serve.mcp_state`).

Built on the official SDK's low-level `Server`, one per class, each behind a session manager in
stateless mode: a replica keeps nothing between requests, so any replica may take any request
(Serve has no sticky sessions). The ingress runs the app's gate and finds the class before a
request gets here (`serve.http.handle`); a tool call is then an ordinary turn, the path HTTP RPC
takes (`serve.calls`), so the agent's `validate_request` and `should_be_readonly` judge it too. A
prompt takes that path as a read-only method, and the state is read in a read-only turn once
`validate_request` admitted the request.
"""

from __future__ import annotations

import contextlib
import json
import urllib.parse
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any

import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.shared.exceptions import MCPError
from starlette.requests import Request as HttpRequest
from starlette.responses import JSONResponse, Response
from starlette.types import Message, Receive, Scope, Send

from agents.agent import Agent
from agents.errors import InvalidArgumentsError, RequestTooLargeError
from agents.requests import Request
from cluster.methods import MethodSpec
from cluster.routing import Router
from serve import calls, http, mcp_prompts, mcp_state, mcp_tools
from serve.cors import Cors

#: Where a request's agent travels to the MCP handlers: a key in its ASGI scope.
_TARGET = "ray_agents.mcp_target"


@dataclass(frozen=True)
class _Target:
    agent_id: str
    #: The request the agent's hooks see (the gate's headers set, the JSON-RPC body).
    request: Request


class McpEndpoint:
    """One replica's MCP servers, one per class that offers anything over MCP (`offers_mcp`)."""

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
            if offers_mcp(cls)
        }

    @property
    def classes(self) -> list[type[Agent]]:
        """The classes with an MCP endpoint (none: nothing to run)."""
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
        against DNS rebinding; MCP clients that are not browsers send none; pages served from
        this machine's loopback addresses are allowed), and an oversized body (the ingress's limit)."""
        origin = conn.headers.get("origin")
        allowed = _loopback(origin) or (self._cors is not None and self._cors.allows(origin))
        if origin is not None and not allowed:
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

        async def list_prompts(
            ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
        ) -> types.ListPromptsResult:
            described = mcp_prompts.prompts(agent_cls).values()
            return types.ListPromptsResult(prompts=[p.prompt for p in described])

        async def get_prompt(
            ctx: ServerRequestContext[Any], params: types.GetPromptRequestParams
        ) -> types.GetPromptResult:
            target: _Target = ctx.request.scope[_TARGET]
            prompt = mcp_prompts.lookup_prompt(agent_cls, params.name)
            kwargs: dict[str, Any] = dict(params.arguments or {})
            try:
                value = await calls.call(
                    self._router, agent_cls, target.agent_id, prompt.spec, target.request, (), kwargs
                )
            except Exception as exc:
                raise _failed(exc) from None
            return prompt.result(value)

        async def list_resources(
            ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
        ) -> types.ListResourcesResult:
            target: _Target = ctx.request.scope[_TARGET]
            state = mcp_state.resource(agent_cls.type_name, target.agent_id)
            return types.ListResourcesResult(resources=[state])

        async def read_resource(
            ctx: ServerRequestContext[Any], params: types.ReadResourceRequestParams
        ) -> types.ReadResourceResult:
            target: _Target = ctx.request.scope[_TARGET]
            mcp_state.check(agent_cls.type_name, target.agent_id, params.uri)
            try:
                state = await calls.read_state(self._router, agent_cls, target.agent_id, target.request)
            except Exception as exc:
                raise _failed(exc) from None
            return mcp_state.contents(agent_cls.type_name, target.agent_id, state)

        has_tools, has_prompts = bool(mcp_tools.tools(agent_cls)), bool(mcp_prompts.prompts(agent_cls))
        has_state = agent_cls.mcp_state_resource
        return Server(  # a handler left out is a capability not advertised
            agent_cls.type_name,
            instructions=agent_cls.__doc__,
            on_list_tools=list_tools if has_tools else None,
            on_call_tool=call_tool if has_tools else None,
            on_list_prompts=list_prompts if has_prompts else None,
            on_get_prompt=get_prompt if has_prompts else None,
            on_list_resources=list_resources if has_state else None,
            on_read_resource=read_resource if has_state else None,
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


def offers_mcp(agent_cls: type[Agent]) -> bool:
    """Whether the class has an MCP endpoint: it offers tools, prompts or its state."""
    return bool(mcp_tools.tools(agent_cls) or mcp_prompts.prompts(agent_cls) or agent_cls.mcp_state_resource)


def _failed(exc: BaseException) -> MCPError:
    """A failed prompt or read as a JSON-RPC error: bad arguments are invalid params."""
    code = types.INVALID_PARAMS if isinstance(exc, InvalidArgumentsError) else types.INTERNAL_ERROR
    return MCPError(code, mcp_tools.error_text(exc))


def _loopback(origin: str | None) -> bool:
    """Whether a page's origin is this machine (a rebound name is not: its Origin is the name)."""
    host = urllib.parse.urlsplit(origin).hostname if origin else None
    return host in ("localhost", "127.0.0.1", "::1")


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
