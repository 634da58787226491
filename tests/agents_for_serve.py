"""Agents the Serve tests talk to over HTTP and WebSockets (importable by Serve replicas)."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator

import pydantic
from starlette.requests import HTTPConnection
from starlette.responses import PlainTextResponse
from starlette.responses import Response as StarletteResponse

from agents import Agent, callable, prompt
from agents.connections import Connection
from agents.requests import Rejected, Request, Response
from examples.app import CHAT_PAGE, PAGE, Counter
from examples.chat_app import ExampleChat
from tests.agents_for_chat import Assistant
from tests.agents_for_events import Observed
from tests.agents_for_mcp import OAuthMcpUser
from tests.agents_for_tracing import Traced


class Tally(Agent):
    """A counter with every web hook: gate, read-only connections, messages, HTTP routes.
    Pooled (its sync methods run in a worker thread), next to dedicated classes in one app."""

    hosting = "pooled"
    initial_state = {"count": 0, "log": []}
    accept_client_state = True

    async def validate_request(self, request: Request) -> None:
        if request.query.get("token") == "bad" or request.headers.get("authorization") == "Bearer bad":
            raise Rejected(401, "bad token")

    def should_be_readonly(self, conn: Connection, request: Request) -> bool:
        return request.query.get("readonly") == "1"

    async def on_connect(self, conn: Connection, request: Request) -> None:
        fresh = {"messages": 0, "name": request.query.get("name", conn.id)}
        conn.state = {**(conn.state or fresh), "seen": [request.url, request.query]}
        conn.send({"welcome": conn.state["name"]})

    async def on_message(self, conn: Connection, message: str | bytes) -> None:
        if isinstance(message, bytes):
            conn.send(message[::-1])
            return
        if message == "boom":
            conn.state = {**conn.state, "messages": -1}  # rolled back with the failed turn
            raise ValueError("boom requested")
        if message == "close-me":
            conn.close(4001, "asked to close")
            return
        conn.state = {**conn.state, "messages": conn.state["messages"] + 1}
        self.broadcast(f"{conn.state['name']}: {message}", exclude=[conn])

    async def on_request(self, request: Request) -> Response:
        if request.path == "/hello":
            return Response(f"hello {self.name} via {request.method}")
        if request.path == "/bump" and request.method == "POST":
            self.set_state({**self.state, "count": self.state["count"] + 1})
            return Response({"count": self.state["count"]})
        if request.path == "/echo" and request.method == "POST":
            return Response({"got": request.json(), "count": self.state["count"]}, status=201)
        return await super().on_request(request)

    @callable
    def add(self, n: int) -> int:
        self.set_state({**self.state, "count": self.state["count"] + n})
        return self.state["count"]

    @callable
    def append(self, item: str) -> int:
        self.set_state({**self.state, "log": [*self.state["log"], item]})
        return len(self.state["log"])

    @callable(readonly=True)
    def get(self) -> dict:
        return dict(self.state)

    @callable(readonly=True)
    def note(self, text: str) -> None:
        """One line to the host's log (stderr) and one printed (stdout)."""
        logging.getLogger("tests.tally").warning("%s noted %s", self.name, text)
        print(f"{self.name} printed {text}", flush=True)

    @callable(readonly=True)
    def conn_info(self) -> dict:
        """Per-connection state and the replica each connection is held by (test introspection)."""
        hub = self._runtime.sockets
        return {c.id: {**(c.state or {}), "replica": hub.record(c.id)["replica"]} for c in self.connections()}

    @callable
    async def ticks(self, n: int, delay: float = 0.0):
        for i in range(n):
            self.set_state({**self.state, "count": self.state["count"] + 1})
            yield i
            await asyncio.sleep(delay)

    @callable(readonly=True)
    def shout(self, text: str, times: int = 1) -> None:
        """Broadcast `text` to every connection, `times` times."""
        for _ in range(times):
            self.broadcast(text)

    @callable
    def fail(self) -> None:
        raise KeyError("nope")


class Note(pydantic.BaseModel):
    text: str
    tags: list[str]


class Toolbox(Agent):
    """A notebook with a counter, offered to MCP clients as tools, prompts and its state."""

    hosting = "pooled"
    initial_state = {"count": 0, "notes": []}
    mcp_state_resource = True

    async def validate_request(self, request: Request) -> None:
        if request.headers.get("authorization") == "Bearer bad":
            raise Rejected(401, "bad token")

    def should_be_readonly(self, conn: Connection, request: Request) -> bool:
        return request.query.get("readonly") == "1"

    @callable(mcp=True)
    def add(self, n: int) -> int:
        """Add n to the count; returns the new count."""
        self.set_state({**self.state, "count": self.state["count"] + n})
        return self.state["count"]

    @callable(mcp=True)
    def write(self, text: str, tags: tuple[str, ...] = ()) -> Note:
        """Keep a note."""
        note = Note(text=text, tags=list(tags))
        self.set_state({**self.state, "notes": [*self.state["notes"], note.model_dump()]})
        return note

    @callable(mcp=True, readonly=True)
    def get(self) -> dict:
        """The whole state."""
        return dict(self.state)

    @callable(mcp=True)
    def fail(self, n: int) -> None:
        """Add n, then fail (the turn is rolled back)."""
        self.set_state({**self.state, "count": self.state["count"] + n})
        raise ValueError(f"failed after adding {n}")

    @callable(mcp=True)
    async def count_to(self, n: int) -> AsyncIterator[int]:
        """Count to n, one item (and one progress notification) a step."""
        for i in range(1, n + 1):
            self.set_state({**self.state, "count": self.state["count"] + 1})
            yield i

    @callable
    def reset(self) -> None:
        """Callable over RPC, not offered over MCP."""
        self.set_state({**self.state, "count": 0})

    @prompt
    def review(self, focus: str, tone: str = "plain") -> list[dict]:
        """Ask for a review of the notes."""
        notes = ", ".join(n["text"] for n in self.state["notes"]) or "none"
        return [
            {"role": "user", "content": f"Review my notes ({notes}) for {focus}, in a {tone} tone."},
            {"role": "assistant", "content": f"The count is {self.state['count']}."},
        ]

    @prompt
    def scribble(self) -> str:
        """Tries to change state (a prompt may not)."""
        self.set_state({**self.state, "count": self.state["count"] + 100})
        return "scribbled"


class Greeter(Agent):
    """Offers a prompt and nothing else over MCP."""

    hosting = "pooled"

    @prompt
    def greet(self, name: str) -> str:
        """Greet someone."""
        return f"Say hello to {name} from {self.name}."


class DedicatedTally(Tally):
    """Tally in a process of its own, for tests that SIGKILL it."""

    hosting = "dedicated"


class Hibernating(Agent):
    """Hibernates after a short idle time, to test that sockets outlive the agent's process."""

    initial_state = {"count": 0}
    idle_timeout = 1.0

    @callable
    def add(self, n: int) -> int:
        self.set_state({"count": self.state["count"] + n})
        return self.state["count"]


class Guarded(Agent):
    """Served behind the gated app's bearer-token gate: shows the identity the gate passed on."""

    initial_state = {"count": 0}

    async def on_connect(self, conn: Connection, request: Request) -> None:
        conn.send({"user": request.headers.get("x-user")})

    async def on_request(self, request: Request) -> Response:
        return Response({"user": request.headers.get("x-user")})

    @callable
    def add(self, n: int) -> int:
        self.set_state({"count": self.state["count"] + n})
        return self.state["count"]


GATE_TOKEN = "s3cret"


def bearer_gate(conn: HTTPConnection, agent_type: str, agent_id: str) -> StarletteResponse | dict[str, str]:
    """The README's bearer-token gate (the token from the header, or `?token=` for browsers'
    WebSockets), plus a canned answer for the token "teapot"."""
    token = conn.headers.get("authorization", "").removeprefix("Bearer ")
    token = token or conn.query_params.get("token", "")
    if token == "teapot":
        return PlainTextResponse("short and stout", 418)
    if not secrets.compare_digest(token.encode(), GATE_TOKEN.encode()):
        raise Rejected(401, "missing or bad bearer token")
    return {"x-user": f"holder of {agent_type}/{agent_id}"}


async def async_bearer_gate(
    conn: HTTPConnection, agent_type: str, agent_id: str
) -> StarletteResponse | dict[str, str]:
    """`bearer_gate` as a coroutine (hooks may be either)."""
    return bearer_gate(conn, agent_type, agent_id)


SERVED = [
    Tally,
    DedicatedTally,
    Hibernating,
    Counter,
    Assistant,
    ExampleChat,
    Toolbox,
    Greeter,
    OAuthMcpUser,
    Observed,
    Traced,
]
GATED = [Guarded, Counter, Toolbox]
#: The one origin the gated app allows cross-origin requests from.
GATED_ORIGIN = "https://app.example.com"
PAGES = {"/": PAGE, "/chat": CHAT_PAGE}
