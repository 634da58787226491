"""What a run gives back, and the bounded buffer its logs are collected in."""

from __future__ import annotations

from typing import Any

import pydantic

from agents.codemode.limits import LimitName

TRUNCATED = "\n[logs truncated]\n"


class CodeResult(pydantic.BaseModel):
    """The outcome of one program: its JSON result, or an error message; logs either way.

    `limit` names the `Limits` field that ended the run, when one did (the error says how)."""

    result: Any = None
    error: str | None = None
    logs: str = ""
    limit: LimitName | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class LogBuffer:
    """Collects a program's output up to `max_bytes`, then drops the rest and marks the cut."""

    def __init__(self, max_bytes: int) -> None:
        self._max = max_bytes
        self._parts: list[str] = []
        self._size = 0
        self.truncated = False

    def write(self, text: str) -> None:
        if self.truncated or not text:
            return
        room = self._max - self._size
        if len(text) > room:
            text = text[:room]
            self.truncated = True
        self._parts.append(text)
        self._size += len(text)

    def getvalue(self) -> str:
        text = "".join(self._parts)
        return text + TRUNCATED if self.truncated else text
