"""The inspector (`build_app(inspector=True)`): a page at `/-/inspector` and the JSON API it reads.

Routes (each behind the app's gate, `serve.gate`: with the agent's type and ID for one agent,
with `"*"`, `"*"` for the page and the list of every agent):

- `GET  /-/inspector`: the page (its script and style are `/static/inspector.{js,css}`);
- `GET  /-/inspector/api/agents`: live and hibernated agents by type, with node and host;
- `GET  /-/inspector/api/classes`: the classes this app serves, with their callable methods and
  each one's parameters as a JSON Schema (what MCP's `inputSchema` is);
- `GET  /-/inspector/api/agent?type=T&id=I[&wake=1]`: one agent's state, tables, schedules,
  queue and connections (`cluster.inspection`), read in its host; a hibernated agent is woken
  only with `wake=1`;
- `POST /-/inspector/api/query?type=T&id=I` `{"sql", "limit"}`: a read-only query of a live
  agent's database;
- `GET  /-/inspector/api/events?type=T&id=I&after=N&source=F&wait=S`: its recent events, waiting
  up to S seconds for one (a long poll: `cluster.observe.agent_events`; pass `last` and `source`
  back).

Calls go through the agent's own RPC route (`/agents/{type}/{id}/rpc/{method}`), gate and all.
Nothing here wakes an agent, except `wake=1`, or changes one.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import ray
from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response

from agents.agent import Agent
from agents.errors import AgentUnavailableError, InvalidArgumentsError
from agents.ids import validate_agent_id
from cluster import observe
from cluster.methods import method_table
from cluster.naming import agent_key
from cluster.routing import Router
from serve import gate
from serve.http import error_response, jsonable, parse_arguments, read_body
from serve.registry import AgentRegistry

#: What the gate is told for the routes about every agent: the page and the list.
EVERY = "*"
#: The page's own files under /static/.
ASSETS = {"inspector.js": "text/javascript", "inspector.css": "text/css"}
#: Longest wait of one events request (the page asks again at once).
MAX_EVENTS_WAIT = 25.0
#: Agents listed per type and kind (live, hibernated) at most; the counts are exact.
MAX_LISTED = 1000
#: Largest query request body.
MAX_QUERY_BYTES = 64 * 1024
#: How long the view of the cluster's nodes (addresses) is kept.
NODES_TTL = 10.0


class Inspector:
    """The inspector's routes on one ingress replica."""

    def __init__(self, static: Path, registry: AgentRegistry, router: Router, hook: gate.Hook | None) -> None:
        self._static = static
        self._registry = registry
        self._router = router
        self._hook = hook
        self._nodes: tuple[float, dict[str, dict[str, Any]]] = (0.0, {})

    def add_routes(self, api: FastAPI) -> None:
        """Add the page, its files and its API to the app (before any catch-all route)."""
        api.add_api_route("/-/inspector", self.page, methods=["GET"])
        for name in ASSETS:
            api.add_api_route(f"/static/{name}", self._asset(name), methods=["GET"])
        api.add_api_route("/-/inspector/api/agents", self.agents, methods=["GET"])
        api.add_api_route("/-/inspector/api/classes", self.classes, methods=["GET"])
        api.add_api_route("/-/inspector/api/agent", self.agent, methods=["GET"])
        api.add_api_route("/-/inspector/api/query", self.query, methods=["POST"])
        api.add_api_route("/-/inspector/api/events", self.events, methods=["GET"])

    def _asset(self, name: str) -> Callable[[], Awaitable[FileResponse]]:
        async def asset() -> FileResponse:
            return FileResponse(self._static / name, media_type=ASSETS[name])

        return asset

    async def _gated(
        self, request: Request, answer: Callable[[], Awaitable[Any]], every: bool = False
    ) -> Response:
        """`answer()` (a response, or data sent as JSON) once the gate admitted the request.
        The gate is always asked for `"*"`, `"*"` (every agent): the inspector reads past each
        agent's own checks, so a gate that admits a user to one agent's routes must not admit
        them here; errors are answered as the agent routes' are. (`every` is kept for the
        routes' readability: all of them are operator routes.)"""
        try:
            admitted = await gate.admit(self._hook, request, EVERY, EVERY)
            if isinstance(admitted, Response):
                return admitted
            answered = await answer()
            return answered if isinstance(answered, Response) else JSONResponse(jsonable(answered))
        except Exception as exc:
            return error_response(exc)

    # ---- routes ----------------------------------------------------------------------------

    async def page(self, request: Request) -> Response:
        async def answer() -> Response:
            return FileResponse(self._static / "inspector.html", media_type="text/html")

        return await self._gated(request, answer, every=True)

    async def agents(self, request: Request) -> Response:
        return await self._gated(request, self._list, every=True)

    async def classes(self, request: Request) -> Response:
        return await self._gated(request, self._classes, every=True)

    async def agent(self, request: Request) -> Response:
        async def answer() -> Any:
            agent_type, agent_id = _agent(request)
            return await self._detail(agent_type, agent_id, request.query_params.get("wake") == "1")

        return await self._gated(request, answer)

    async def query(self, request: Request) -> Response:
        async def answer() -> Any:
            agent_type, agent_id = _agent(request)
            args, fields = parse_arguments(await read_body(request, MAX_QUERY_BYTES))
            sql, limit = fields.get("sql"), fields.get("limit", 100)
            if args or not isinstance(sql, str) or not sql.strip() or not isinstance(limit, int):
                raise InvalidArgumentsError('expected {"sql": "SELECT ...", "limit": 100}')
            found = await self._on_live(
                agent_type, agent_id, lambda h, key, epoch: h.query.remote(key, epoch, sql, limit)
            )
            if found is None:
                raise AgentUnavailableError(
                    f"{agent_type}/{agent_id} is not live: wake it to query its database"
                )
            return found

        return await self._gated(request, answer)

    async def events(self, request: Request) -> Response:
        async def answer() -> Any:
            agent_type, agent_id = _agent(request)
            after, wait = _number(request, "after"), min(float(_number(request, "wait")), MAX_EVENTS_WAIT)
            source = request.query_params.get("source") or None
            return await observe.agent_events(agent_type, agent_id, after, wait, source)

        return await self._gated(request, answer)

    # ---- answers ---------------------------------------------------------------------------

    async def _list(self) -> dict[str, Any]:
        described, nodes = await asyncio.gather(
            (await self._router.checked_controller()).describe.remote(), self._node_addresses()
        )
        types: dict[str, dict[str, Any]] = {}
        served = self._registry.names()

        def of(name: str) -> dict[str, Any]:
            return types.setdefault(
                name,
                {
                    "type": name,
                    "served": name in served,
                    "live": [],
                    "hibernated": [],
                    "counts": {"live": 0, "hibernated": 0},
                },
            )

        for placement in described["live"].values():
            entry = of(placement["type"])
            entry["counts"]["live"] += 1
            if len(entry["live"]) < MAX_LISTED:
                entry["live"].append(
                    {**placement, "node": nodes.get(placement["node_id"], {}).get("address")}
                )
        for agent_type, agent_id in described["hibernated"]:
            entry = of(agent_type)
            entry["counts"]["hibernated"] += 1
            if len(entry["hibernated"]) < MAX_LISTED:
                entry["hibernated"].append({"type": agent_type, "id": agent_id})
        for name in served:
            of(name)
        for entry in types.values():
            entry["live"].sort(key=lambda a: a["id"])
            entry["hibernated"].sort(key=lambda a: a["id"])
        return {
            "at": time.time(),
            "types": sorted(types.values(), key=lambda t: t["type"]),
            "hosts": described["hosts"],
            "nodes": nodes,
        }

    async def _classes(self) -> dict[str, Any]:
        return {"classes": [_describe_class(self._registry.get(name)) for name in self._registry.names()]}

    async def _detail(self, agent_type: str, agent_id: str, wake: bool) -> dict[str, Any]:
        if wake:
            agent_cls = self._registry.get(agent_type)
            found = await self._router.submit(
                agent_cls, agent_id, lambda t: t.actor.inspect.remote(t.key, t.epoch)
            )
        else:
            found = await self._on_live(
                agent_type, agent_id, lambda host, key, epoch: host.inspect.remote(key, epoch)
            )
        if found is None:
            return {"type": agent_type, "id": agent_id, "live": False}
        nodes = await self._node_addresses()
        return {
            "type": agent_type,
            "id": agent_id,
            "live": True,
            **found,
            "node": nodes.get(found["node_id"], {}).get("address"),
        }

    async def _on_live(self, agent_type: str, agent_id: str, call: Callable[[Any, str, int], Any]) -> Any:
        """`call(host, key, epoch)`'s value if the agent is live (None if not): asked of its
        host directly, so a hibernated agent is never woken."""
        key = agent_key(agent_type, agent_id)
        controller = await self._router.checked_controller()
        epochs, host = await asyncio.gather(
            controller.live_epochs.remote([key]), controller.host_of.remote(key)
        )
        if key not in epochs or host is None:
            return None
        answer = await call(host, key, epochs[key])
        if answer.retriable:  # it retired in between
            return None
        return answer.unwrap()

    async def _node_addresses(self) -> dict[str, dict[str, Any]]:
        """Node ID -> {"address", "alive"} (cached for NODES_TTL)."""
        seen, nodes = self._nodes
        if time.monotonic() - seen > NODES_TTL:
            listed = await asyncio.to_thread(ray.nodes)
            nodes = {
                n["NodeID"]: {"address": n.get("NodeManagerAddress"), "alive": n.get("Alive")} for n in listed
            }
            self._nodes = (time.monotonic(), nodes)
        return nodes


def _describe_class(agent_cls: type[Agent]) -> dict[str, Any]:
    """A class as the page shows it: its name, docstring and callable methods."""
    methods = [
        {
            "name": spec.name,
            "doc": inspect.getdoc(spec.function) or "",
            "readonly": spec.readonly,
            "streaming": spec.streaming,
            "schema": spec.validator.json_schema(),
        }
        for spec in method_table(agent_cls).values()
        if not spec.prompt
    ]
    return {
        "type": agent_cls.type_name,
        "doc": inspect.getdoc(agent_cls) or "",
        "hosting": agent_cls.hosting,
        "methods": methods,
    }


def _agent(request: Request) -> tuple[str, str]:
    """(type, ID) of the query string (IDs may hold any character: no path segment)."""
    agent_type = request.query_params.get("type", "")
    if not agent_type:
        raise InvalidArgumentsError("expected ?type=...&id=...")
    return agent_type, validate_agent_id(request.query_params.get("id", ""))


def _number(request: Request, name: str) -> int:
    try:
        return int(request.query_params.get(name, 0))
    except ValueError:
        raise InvalidArgumentsError(f"?{name}= takes a whole number") from None
