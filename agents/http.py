"""One-off calls to agents over HTTP, with nothing but the standard library (urllib).

```python
from agents.http import call
call("http://localhost:8000", "counter", "alice", "add", 5)   # -> 5
```
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from agents.wire.errors import from_wire


def agent_url(base_url: str, agent: str, agent_id: str, path: str = "") -> str:
    """`{base}/agents/{agent}/{id}{path}`, the ID escaped as one path segment."""
    return f"{base_url.rstrip('/')}/agents/{quote(agent, safe='')}/{quote(agent_id, safe='')}{path}"


def request(
    url: str,
    method: str = "GET",
    body: Any = None,
    headers: dict[str, str] | None = None,
    timeout: float = 60,
) -> tuple[int, dict[str, str], bytes]:
    """Send one request; returns (status, headers, body) for every status, errors included."""
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
    if data is not None and not isinstance(body, bytes):
        req.add_header("content-type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def call(base_url: str, agent: str, agent_id: str, method: str, *args: Any, **kwargs: Any) -> Any:
    """Call a `@callable` method over HTTP; its typed errors are raised as themselves."""
    return rpc(base_url, agent, agent_id, method, args, kwargs)


def rpc(
    base_url: str,
    agent: str,
    agent_id: str,
    method: str,
    args: Sequence[Any] = (),
    kwargs: Mapping[str, Any] | None = None,
    *,
    headers: Mapping[str, str] | None = None,
    timeout: float = 60,
) -> Any:
    """`call` with the arguments as values, and extra request headers (e.g. `Authorization`)."""
    if args and kwargs:
        raise TypeError("over HTTP, pass positional or keyword arguments, not both")
    body = dict(kwargs) if kwargs else list(args)
    url = agent_url(base_url, agent, agent_id, f"/rpc/{quote(method)}")
    status, response_headers, raw = request(url, "POST", body, dict(headers or {}), timeout)
    content_type = next((v for k, v in response_headers.items() if k.lower() == "content-type"), "")
    if status < 400 and "ndjson" in content_type:
        return _stream_items(raw, status)
    data = json.loads(raw) if raw else None
    if status >= 400:
        error = (data or {}).get("error", {}) if isinstance(data, dict) else {}
        raise from_wire(error.get("code", "http_error"), error.get("message", raw.decode()), status)
    return data


def _stream_items(raw: bytes, status: int) -> list[Any]:
    """A streaming method's items (one JSON line each); a last `{"error": ...}` line is raised."""
    items = [json.loads(line) for line in raw.splitlines() if line.strip()]
    if items and isinstance(items[-1], dict) and set(items[-1]) == {"error"}:
        error = items[-1]["error"]
        raise from_wire(error.get("code", "http_error"), error.get("message", ""), status)
    return items
