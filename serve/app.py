"""The ingress deployment: one FastAPI app on Ray Serve for every agent class it is built with.

```python
from serve.app import build_app, start
app = build_app([Counter, ChatRoom])          # for `serve run module:app` / `serve deploy`
start([Counter, ChatRoom], port=8000)         # or from a driver: serve.run on a local cluster
```
Routes: `POST /agents/{agent}/{id}/rpc/{method}`, `/agents/{agent}/{id}/mcp` (MCP, for classes
with `@callable(mcp=True)` or `@prompt` methods or `mcp_state_resource`: `serve.mcp`), any other
request under `/agents/{agent}/{id}/` (`on_request`), `WS /agents/{agent}/{id}` (see
docs/protocol.md), `/static/agents.js`, the pages the app was built with, and with
`inspector=True` the inspector (`/-/inspector`: `serve.inspector`). The app's gate (`serve.gate`)
and CORS (`serve.cors`) run first.
"""

import os
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ray
from fastapi import FastAPI, WebSocket
from ray import serve
from ray.serve._private.constants import SERVE_NAMESPACE  # no public name; stable since 2.0
from ray.serve.handle import DeploymentHandle
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response

from agents.agent import Agent
from agents.errors import RouteNotFoundError
from agents.wire import protocol
from cluster import routing
from cluster.config import RuntimeConfig
from cluster.logs import configure_actor_logging
from serve import gate, http, sessions
from serve.cors import Cors
from serve.inspector import Inspector
from serve.mcp import McpEndpoint
from serve.pushes import PushHub
from serve.registry import AgentRegistry
from serve.sessions import Session

STATIC = Path(__file__).parent / "static"
HTTP_METHODS = [*http.AGENT_METHODS, "OPTIONS"]


@dataclass(frozen=True)
class IngressSettings:
    """How the ingress reaches agents and what else it serves."""

    #: Namespace and checkpoint store of the agents (must match the drivers that call them).
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    #: Larger WebSocket frames get an error frame instead of reaching the agent.
    max_frame_bytes: int = protocol.MAX_FRAME_BYTES
    #: A socket whose client leaves more than this unacknowledged is closed (1013; it resyncs).
    max_unacked_bytes: int = sessions.MAX_UNACKED_BYTES
    #: Larger HTTP request bodies get 413 (`request_too_large`) before any agent is reached.
    max_body_bytes: int = http.MAX_BODY_BYTES
    #: Extra pages: URL path -> HTML text (e.g. {"/": "<html>...</html>"}).
    pages: Mapping[str, str] = field(default_factory=dict)
    #: The app's gate for HTTP requests and WebSocket connects (`serve.gate`).
    on_before_request: gate.Hook | None = None
    on_before_connect: gate.Hook | None = None
    #: Cross-origin access (`serve.cors`); None: no CORS headers, OPTIONS gets 405.
    cors: Cors | None = None
    #: Serve the inspector at /-/inspector (`serve.inspector`), behind `on_before_request`.
    inspector: bool = False


@serve.deployment(
    # Every open WebSocket counts as an ongoing request: the default (5) would stall the 6th socket.
    max_ongoing_requests=10_000,
    ray_actor_options={"num_cpus": 0.1},
)
@serve.ingress()
class AgentIngress:
    """One Serve replica: holds sockets, forwards calls, receives the agents' pushes."""

    def __init__(self, agents: list[type[Agent]], settings: IngressSettings) -> None:
        configure_actor_logging()
        routing.configure(settings.runtime)
        self._settings = settings
        self._registry = AgentRegistry(agents)
        self._router = routing.router()
        #: This replica as agents' connection records name it: its process ID, and a random part.
        replica = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        # Serve names replicas in its own namespace, not the job's (`context.namespace` is the
        # job's): looked up anywhere else, a live replica would seem gone.
        actor = (SERVE_NAMESPACE, ray.get_runtime_context().get_actor_name() or "")
        self._pushes = PushHub(self._router, replica=replica, actor=actor if actor[1] else None)
        self._mcp = McpEndpoint(agents, self._router, settings.max_body_bytes, settings.cors)
        #: The connect gate; with `cors=`, behind the Origin check browsers do not make for sockets.
        cors, hook = settings.cors, settings.on_before_connect
        self._connect_gate = cors.checked_sockets(hook) if cors is not None else hook

    def __serve_build_asgi_app__(self) -> FastAPI:
        """This replica's FastAPI app (Serve calls it after `__init__`): the routes, with CORS
        around them when the app was built with `cors=`."""
        cors = self._settings.cors
        api = FastAPI(
            title="ray-agents",
            docs_url=None,
            redoc_url=None,
            middleware=[cors.middleware()] if cors is not None else None,
            # Only with MCP tools: apps without them keep Serve's plain start and stop.
            lifespan=(lambda _: self._mcp.run()) if self._mcp.classes else None,
        )
        api.add_api_route("/agents/{path:path}", self.agent_http, methods=HTTP_METHODS)
        api.add_api_websocket_route("/agents/{path:path}", self.agent_socket)
        api.add_api_route("/static/agents.js", self.client_js, methods=["GET"])
        api.add_api_route("/-/agents", self.agent_names, methods=["GET"])
        if self._settings.inspector:
            inspector = Inspector(STATIC, self._registry, self._router, self._settings.on_before_request)
            inspector.add_routes(api)
        api.add_api_route("/{page:path}", self.page, methods=["GET"])
        return api

    async def agent_http(self, request: Request) -> Response:
        settings = self._settings
        return await http.handle(
            request,
            self._registry,
            self._router,
            settings.max_body_bytes,
            settings.on_before_request,
            self._mcp,
        )

    async def agent_socket(self, websocket: WebSocket) -> None:
        settings = self._settings
        session = Session(
            websocket, self._router, self._pushes, settings.max_frame_bytes, settings.max_unacked_bytes
        )
        await session.run(self._registry, self._connect_gate)

    async def client_js(self) -> FileResponse:
        return FileResponse(STATIC / "agents.js", media_type="text/javascript")

    async def agent_names(self) -> JSONResponse:
        return JSONResponse({"agents": self._registry.names()})

    async def page(self, page: str) -> Response:
        html = self._settings.pages.get("/" + page)
        if html is None:
            return http.error_response(RouteNotFoundError("no such page"))
        return HTMLResponse(html)


def build_app(
    agents: Iterable[type[Agent]],
    *,
    runtime: RuntimeConfig | None = None,
    pages: Mapping[str, str] | None = None,
    num_replicas: int = 1,
    max_frame_bytes: int = protocol.MAX_FRAME_BYTES,
    max_unacked_bytes: int = sessions.MAX_UNACKED_BYTES,
    max_body_bytes: int = http.MAX_BODY_BYTES,
    on_before_request: gate.Hook | None = None,
    on_before_connect: gate.Hook | None = None,
    cors: Cors | Sequence[str] | None = None,
    inspector: bool = False,
) -> Any:
    """A Serve application for these agent classes (what `serve run module:app` expects).
    `max_frame_bytes` and `max_body_bytes` cap WebSocket frames and HTTP request bodies (1 MiB);
    a socket whose client has not acknowledged `max_unacked_bytes` (4 MiB) is closed (1013).
    `on_before_request(request, agent_type, agent_id)` and `on_before_connect(websocket, ...)`
    admit or refuse requests before any agent is activated (`serve.gate`); `cors` is a `Cors`,
    or the allowed origins (`serve.cors`). `inspector=True` serves the inspector page at
    `/-/inspector` (`serve.inspector`), behind `on_before_request`."""
    settings = IngressSettings(
        runtime=runtime or RuntimeConfig(),
        max_frame_bytes=max_frame_bytes,
        max_unacked_bytes=max_unacked_bytes,
        max_body_bytes=max_body_bytes,
        pages=dict(pages or {}),
        on_before_request=on_before_request,
        on_before_connect=on_before_connect,
        cors=Cors.of(cors),
        inspector=inspector,
    )
    return AgentIngress.options(num_replicas=num_replicas).bind(list(agents), settings)


def start(
    agents: Iterable[type[Agent]],
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    name: str = "ray-agents",
    **options: Any,
) -> str:
    """Start Serve on this Ray cluster (HTTP on host:port) with the ingress; returns its base URL."""
    serve.start(http_options={"host": host, "port": port})
    handle: DeploymentHandle = serve.run(build_app(agents, **options), name=name, route_prefix="/")
    del handle
    return f"http://{host}:{port}"
