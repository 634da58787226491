"""The example web app: a live counter, a chat room and an AI chat, on Ray Serve.

ray-agents dev examples.app:app          # then open http://127.0.0.1:8000/ (and /chat)
serve run examples.app:app               # the same with Ray's own CLI
"""

from __future__ import annotations

import time
from pathlib import Path

from agents import Agent, callable
from agents.connections import Connection
from agents.requests import Request
from examples.chat_app import ExampleChat
from serve.app import build_app


class Counter(Agent):
    """A number every connected page sees change live."""

    initial_state = {"count": 0}

    @callable
    def add(self, n: int = 1) -> int:
        self.set_state({"count": self.state["count"] + n})
        return self.state["count"]

    @callable(readonly=True)
    def get(self) -> int:
        return self.state["count"]


class ChatRoom(Agent):
    """Messages kept in state (the last 100) and pushed to every member as JSON patches."""

    initial_state = {"messages": [], "members": 0}

    async def on_connect(self, conn: Connection, request: Request) -> None:
        conn.state = {"name": request.query.get("name", "guest")}
        self.set_state({**self.state, "members": len(self.connections())})

    async def on_close(self, conn: Connection, code: int, reason: str) -> None:
        self.set_state({**self.state, "members": len(self.connections())})

    async def on_message(self, conn: Connection, message: str | bytes) -> None:
        if isinstance(message, str) and message.strip():
            self.say(conn.state["name"], message.strip()[:500])

    @callable
    def say(self, name: str, text: str) -> int:
        messages = [*self.state["messages"], {"name": name, "text": text, "at": time.time()}][-100:]
        self.set_state({**self.state, "messages": messages})
        return len(messages)


PAGE = (Path(__file__).parent / "counter.html").read_text()
CHAT_PAGE = (Path(__file__).parent / "chat.html").read_text()  # the AI chat (examples/chat_app.py)

app = build_app([Counter, ChatRoom, ExampleChat], pages={"/": PAGE, "/chat": CHAT_PAGE})
