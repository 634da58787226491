"""Plain HTTP under `/agents/{agent}/{id}/`: RPC (`POST .../rpc/{method}`) and `on_request`."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import pydantic_core
from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse, Response, StreamingResponse

from agents.agent import Agent
from agents.connections import overrides
from agents.errors import (
    AgentError,
    InvalidAgentIdError,
    InvalidArgumentsError,
    MethodNotAllowedError,
    RequestTooLargeError,
    RouteNotFoundError,
)
from agents.ids import validate_agent_id
from agents.mcp_client import oauth
from agents.requests import Request
from cluster.methods import lookup_method
from cluster.naming import agent_key
from cluster.routing import Router
from serve import calls, gate
from serve.registry import AgentRegistry

if TYPE_CHECKING:
    from serve.mcp import McpEndpoint

PREFIX = "/agents/"
NDJSON = "application/x-ndjson"


def split_agent_path(conn: HTTPConnection) -> tuple[str, str, str]:
    """(url name, agent ID, rest) of `/agents/{name}/{id}{rest}`. The ID is one path segment,
    percent-decoded, so IDs containing '/' travel as %2F."""
    raw = conn.scope.get("raw_path") or conn.scope["path"].encode()
    path = raw.decode("latin-1").partition("?")[0]
    root = conn.scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root) :]
    parts = path[len(PREFIX) :].split("/", 2)
    if not path.startswith(PREFIX) or len(parts) < 2 or not parts[1]:
        raise InvalidArgumentsError("expected /agents/{agent}/{id}")
    rest = "/" + parts[2] if len(parts) == 3 else ""
    try:
        agent_id = unquote(parts[1], errors="strict")
    except UnicodeDecodeError:  # else %FF, %FE and %C0%AE would all be one agent, "\ufffd"
        raise InvalidAgentIdError("the agent ID in the URL is not UTF-8 once percent-decoded") from None
    return unquote(parts[0]), validate_agent_id(agent_id), unquote(rest)


def agent_request(
    conn: HTTPConnection,
    rest: str,
    body: bytes = b"",
    headers: Mapping[str, str] | None = None,
    hidden: tuple[str, ...] = (),
) -> Request:
    """The `agents.requests.Request` an agent's hooks see; `headers` (from the gate) are set on
    it, and the `hidden` query parameters (the ingress's own secrets) are not."""
    url = conn.url.remove_query_params(hidden) if hidden else conn.url
    return Request(
        method=conn.scope.get("method", "GET"),
        url=str(url),
        path=rest,
        headers={k.lower(): v for k, v in conn.headers.items()} | dict(headers or {}),
        query={k: v for k, v in conn.query_params.items() if k not in hidden},
        body=body,
        client=conn.client.host if conn.client else None,
    )


def jsonable(value: Any) -> Any:
    """JSON-friendly form of a result (pydantic models, dates, tuples...)."""
    return pydantic_core.to_jsonable_python(value)


def error_response(exc: BaseException) -> JSONResponse:
    """`{"error": {"code", "message"}}` with the error's HTTP status (500 for user exceptions)."""
    if isinstance(exc, AgentError):
        code, status, message = exc.code, exc.status, exc.message or str(exc)
    else:
        code, status, message = "exception", 500, f"{type(exc).__name__}: {exc}"
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def parse_arguments(body: bytes) -> tuple[list[Any], dict[str, Any]]:
    """A JSON array is positional arguments, an object keyword arguments; empty means none."""
    if not body.strip():
        return [], {}
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise InvalidArgumentsError(f"request body is not JSON: {exc}") from None
    except RecursionError:
        raise InvalidArgumentsError("request body nests too deeply to decode") from None
    if isinstance(data, list):
        return data, {}
    if isinstance(data, Mapping):
        return [], dict(data)
    raise InvalidArgumentsError("request body must be a JSON array (arguments) or object (keywords)")


#: Largest HTTP request body the ingress takes by default (`build_app(max_body_bytes=...)`).
MAX_BODY_BYTES = 1 << 20


async def read_body(conn: Any, limit: int) -> bytes:
    """The request body, refused (RequestTooLargeError) once it passes `limit` bytes: by its
    Content-Length at once, else as it streams in, so no more than `limit` is ever held."""
    declared = conn.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise RequestTooLargeError(
            f"request body of {int(declared)} bytes exceeds the limit of {limit} bytes"
        )
    parts, size = [], 0
    async for part in conn.stream():
        size += len(part)
        if size > limit:
            raise RequestTooLargeError(f"request body exceeds the limit of {limit} bytes")
        parts.append(part)
    return b"".join(parts)


#: The methods an agent path takes; OPTIONS is the ingress's own (`serve.cors`).
AGENT_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD")


async def handle(
    conn: Any,
    registry: AgentRegistry,
    router: Router,
    max_body_bytes: int = MAX_BODY_BYTES,
    on_before_request: gate.Hook | None = None,
    mcp: McpEndpoint | None = None,
) -> Response:
    """Serve one HTTP request addressed to an agent. Everything that cannot reach one of its
    handlers (the gate refused, an unknown class or method, bad arguments, OPTIONS, a route on a
    class without `on_request`) is answered here, before the agent is activated. `.../mcp` of a
    class with an MCP endpoint goes to `mcp`, once the gate admitted it. An MCP server's OAuth callback
    (`.../mcp-oauth/{server}`) passes the gate: the user's browser, sent back by an authorization
    server, holds none of the app's credentials; the agent checks its `state` instead."""
    try:
        name, agent_id, rest = split_agent_path(conn)
        if conn.method == "OPTIONS":
            refusal = MethodNotAllowedError("agents take no OPTIONS; build the app with cors= for preflights")
            response = error_response(refusal)
            response.headers["allow"] = ", ".join(AGENT_METHODS)
            return response
        if rest.startswith(oauth.CALLBACK_PREFIX) and conn.method == "GET":
            return await _oauth_callback(conn, router, registry.get(name), agent_id, rest)
        admitted = await gate.admit(on_before_request, conn, name, agent_id)
        if isinstance(admitted, Response):
            return admitted
        agent_cls = registry.get(name)
        if rest == "/mcp" and mcp is not None and mcp.serves(agent_cls):
            return await mcp.respond(conn, agent_cls, agent_id, admitted)
        rpc = rest.startswith("/rpc/") and conn.method == "POST"
        if not rpc and not overrides(agent_cls, "on_request"):
            raise RouteNotFoundError("no such route")
        body = await read_body(conn, max_body_bytes)
        request = agent_request(conn, rest, body, admitted)
        if rpc:
            return await _rpc(router, agent_cls, agent_id, rest[len("/rpc/") :], request)
        return await _request(router, agent_cls, agent_id, request)
    except Exception as exc:
        return error_response(exc)


async def _oauth_callback(
    conn: Any, router: Router, agent_cls: type[Agent], agent_id: str, rest: str
) -> Response:
    """Hand an authorization server's redirect to the agent that is waiting for it. An
    authorization in progress lives in a live activation only, so the callback never activates
    an agent (it passes the gate: anyone may send one); it must carry a `state`."""
    if "state" not in conn.query_params:
        raise InvalidArgumentsError("an OAuth callback carries the authorization's state")
    key = agent_key(agent_cls.type_name, agent_id)
    if key not in await router.controller().live_epochs.remote([key]):
        page = oauth.page("Not connected", "no authorization is in progress here; authorize again", 400)
        content, media_type = page.encoded()
        return Response(content, page.status, media_type=media_type)
    return await _request(router, agent_cls, agent_id, agent_request(conn, rest))


async def _request(router: Router, agent_cls: type[Agent], agent_id: str, request: Request) -> Response:
    """The agent's answer to an HTTP request (`on_request`, or the OAuth callback)."""
    response = await router.submit(
        agent_cls, agent_id, lambda t: t.actor.request.remote(t.key, t.epoch, request)
    )
    content, media_type = response.encoded()
    return Response(content, response.status, headers=response.headers, media_type=media_type)


async def _rpc(
    router: Router, agent_cls: type[Agent], agent_id: str, method: str, request: Request
) -> Response:
    spec = lookup_method(agent_cls, method)
    args, kwargs = parse_arguments(request.body)
    if not spec.streaming:
        return JSONResponse(
            jsonable(await calls.call(router, agent_cls, agent_id, spec, request, tuple(args), kwargs))
        )
    items = calls.stream(router, agent_cls, agent_id, spec, request, tuple(args), kwargs)
    try:  # a stream that fails before its first item is an error response with its status
        first = await anext(items)
    except StopAsyncIteration:
        return Response(b"", media_type=NDJSON)
    return StreamingResponse(_ndjson(first, items), media_type=NDJSON)


async def _ndjson(first: Any, items: AsyncIterator[Any]) -> AsyncIterator[bytes]:
    """Each item as one JSON line; a failure mid-stream becomes a final `{"error": ...}` line."""
    try:
        yield json.dumps(jsonable(first)).encode() + b"\n"
        async for item in items:
            yield json.dumps(jsonable(item)).encode() + b"\n"
    except Exception as exc:
        yield error_response(exc).body + b"\n"
