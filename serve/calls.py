"""Calling an agent's method from the ingress: the one path HTTP RPC and MCP tools and prompts share.

Arguments are checked against the type hints before the agent is touched. A call is one turn
through the router (`submit_once`: applied once across failover, rolled back on error,
checkpointed before its result returns), in which the agent's `validate_request` and
`should_be_readonly` judge the request. A stream, and a read of the state, ask the agent to
`authorize` the request first. Each call is a span (`agents.ingress`, `cluster.tracing`) that
continues the request's W3C `traceparent`, if it has one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from agents.agent import Agent
from agents.errors import ReadOnlyError
from agents.requests import Request
from cluster import tracing
from cluster.methods import MethodSpec
from cluster.routing import Router


async def call(
    router: Router,
    agent_cls: type[Agent],
    agent_id: str,
    spec: MethodSpec,
    request: Request,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Any:
    """The result of a (non-streaming) method, called as one turn for `request`."""
    spec.bind(args, kwargs)
    with tracing.ingress(agent_cls.type_name, agent_id, spec.name, request.headers) as span:
        return await router.submit_once(
            agent_cls,
            agent_id,
            lambda t, request_id, acks, trace: t.actor.rpc.remote(
                t.key, t.epoch, request, spec.name, args, kwargs, request_id, acks, trace
            ),
            method=spec.name,
            parent=span,
        )


async def stream(
    router: Router,
    agent_cls: type[Agent],
    agent_id: str,
    spec: MethodSpec,
    request: Request,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> AsyncIterator[Any]:
    """The items of a streaming method, once the agent admitted `request` (a read-only request
    may stream only from a read-only method)."""
    spec.bind(args, kwargs)
    with tracing.ingress(agent_cls.type_name, agent_id, spec.name, request.headers) as span:
        readonly = await router.submit(
            agent_cls, agent_id, lambda t: t.actor.authorize.remote(t.key, t.epoch, request)
        )
        if readonly and not spec.readonly:
            raise ReadOnlyError(f"this request is read-only; {spec.name} may change state")
        async for item in router.stream(agent_cls, agent_id, spec.name, args, kwargs, span):
            yield item


async def read_state(router: Router, agent_cls: type[Agent], agent_id: str, request: Request) -> Any:
    """The agent's committed state (JSON-friendly), once the agent admitted `request`."""
    return await router.submit(
        agent_cls, agent_id, lambda t: t.actor.read_state.remote(t.key, t.epoch, request)
    )
