"""The app's gate: hooks that admit or refuse a request in the ingress, before any agent is looked
up or activated (`build_app(on_before_request=..., on_before_connect=...)`).

A hook is `hook(conn, agent_type, agent_id)`, sync or async: `conn` is the Starlette `Request`
(HTTP, its body not read yet) or `WebSocket` (accepted, no frame sent yet); `agent_type` is the
name in the URL (`/agents/{agent_type}/{agent_id}`), not checked yet: unknown types are refused
after the gate, so they cannot be probed past it. The inspector's routes (`serve.inspector`) run
it too, always with "*", "*": it reads every agent past their own checks, so admit "*" only for
operators. It returns:

- None: go on;
- a Starlette `Response`: answer with it instead (a WebSocket is closed with 4000 + its status,
  its body as the reason);
- a mapping of headers: go on, with these headers set on the request the agent sees (how a gate
  passes on an identity: `{"x-user": "alice"}`; a client's own header of that name is replaced).

Or it raises `agents.requests.Rejected(status, message)` (any `AgentError`) to refuse with that
status. Serve pickles hooks with the app: make them module-level functions.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping

from starlette.requests import HTTPConnection
from starlette.responses import Response

from agents.errors import AgentError

log = logging.getLogger("ray_agents.serve.gate")

#: What a hook returns: go on (None), answer instead (Response), or go on with extra headers.
Verdict = Response | Mapping[str, str] | None
Hook = Callable[[HTTPConnection, str, str], Verdict | Awaitable[Verdict]]


async def admit(
    hook: Hook | None, conn: HTTPConnection, agent_type: str, agent_id: str
) -> Response | dict[str, str]:
    """Run the hook: its `Response` if it answered, else the headers (lower-cased, maybe none)
    to add to the agent's request. Its exceptions propagate (`Rejected` refuses)."""
    if hook is None:
        return {}
    try:
        verdict = hook(conn, agent_type, agent_id)
        if inspect.isawaitable(verdict):
            verdict = await verdict
    except AgentError:
        raise
    except Exception as exc:  # a bug in the hook: its details go to the log, not to the client
        log.exception("the gate %s failed for %s/%s", getattr(hook, "__name__", hook), agent_type, agent_id)
        raise AgentError("the app's gate failed (its error is in the ingress log)") from exc
    if verdict is None:
        return {}
    if isinstance(verdict, Response):
        return verdict
    if isinstance(verdict, Mapping):
        return {str(name).lower(): str(value) for name, value in verdict.items()}
    raise TypeError(f"a gate returns None, a Response or a mapping of headers, not {type(verdict).__name__}")
