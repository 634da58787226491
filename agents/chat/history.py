"""The conversation, one SQL row per message in the agent's own database (no row-size cliff).

Messages are OpenAI-format dicts (`role`, `content`, `tool_calls`, `tool_call_id`), the form
litellm takes for every provider. Each row also names the stream (turn) that added it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from agents.chat.model import ToolCall

Sql = Callable[..., list[dict[str, Any]]]

_TABLE = """CREATE TABLE IF NOT EXISTS _chat_messages(
    id INTEGER PRIMARY KEY AUTOINCREMENT, stream_id TEXT NOT NULL, role TEXT NOT NULL,
    body TEXT NOT NULL, created REAL NOT NULL)"""


class ChatHistory:
    """The messages of one chat agent, oldest first."""

    def __init__(self, sql: Sql) -> None:
        self._sql = sql

    def create(self) -> None:
        self._sql(_TABLE)

    def append(self, stream_id: str, message: dict[str, Any]) -> None:
        self._sql(
            "INSERT INTO _chat_messages(stream_id, role, body, created) VALUES (?, ?, ?, ?)",
            stream_id,
            message["role"],
            json.dumps(message),
            time.time(),
        )

    def messages(self) -> list[dict[str, Any]]:
        return [json.loads(row["body"]) for row in self._sql("SELECT body FROM _chat_messages ORDER BY id")]

    def _of_stream(self, stream_id: str) -> list[dict[str, Any]]:
        rows = self._sql("SELECT body FROM _chat_messages WHERE stream_id = ? ORDER BY id", stream_id)
        return [json.loads(row["body"]) for row in rows]

    def unanswered_calls(self, stream_id: str) -> list[ToolCall]:
        """Tool calls of the stream's last assistant message that have no tool result yet."""
        messages = self._of_stream(stream_id)
        answered = {m["tool_call_id"] for m in messages if m["role"] == "tool"}
        for message in reversed(messages):
            if message["role"] == "assistant":
                return [
                    ToolCall(c["id"], c["function"]["name"], c["function"]["arguments"])
                    for c in message.get("tool_calls") or ()
                    if c["id"] not in answered
                ]
        return []

    def answered(self, stream_id: str) -> bool:
        """Whether the stream's last message is an assistant answer that asks for no tools."""
        messages = self._of_stream(stream_id)
        return bool(messages) and messages[-1]["role"] == "assistant" and not messages[-1].get("tool_calls")

    def trim(self, keep: int) -> None:
        """Keep the newest `keep` messages; never start the history with orphaned tool results."""
        self._sql(
            "DELETE FROM _chat_messages WHERE id NOT IN "
            "(SELECT id FROM _chat_messages ORDER BY id DESC LIMIT ?)",
            keep,
        )
        self._sql(
            "DELETE FROM _chat_messages WHERE role = 'tool' AND id < "
            "(SELECT COALESCE(MIN(id), 1 << 62) FROM _chat_messages WHERE role != 'tool')"
        )

    def clear(self) -> None:
        self._sql("DELETE FROM _chat_messages")
