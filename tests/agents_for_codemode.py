"""An agent that lets model-written programs call its methods (importable by Ray workers)."""

from __future__ import annotations

import asyncio
import time

from agents import Agent, callable
from agents.codemode import Limits


class Librarian(Agent):
    initial_state = {"books": []}

    def add_book(self, title: str, year: int) -> int:
        """Add a book; returns how many books there are now."""
        self.set_state({"books": [*self.state["books"], {"title": title, "year": year}]})
        return len(self.state["books"])

    def find(self, before: int) -> list[str]:
        """Titles of books published before a year."""
        return [b["title"] for b in self.state["books"] if b["year"] < before]

    def add_book_slowly(self, title: str, seconds: float) -> int:
        """Add a book after blocking for a while (a sync tool: it runs in a thread)."""
        time.sleep(seconds)
        return self.add_book(title, 0)

    async def add_book_later(self, title: str, seconds: float) -> int:
        """Add a book after waiting for a while."""
        await asyncio.sleep(seconds)
        return self.add_book(title, 0)

    @callable
    async def program(self, code: str, language: str, timeout_s: float = 10) -> dict:
        tools = [self.add_book, self.find, self.add_book_slowly, self.add_book_later]
        result = await self.run_code(code, tools=tools, language=language, limits=Limits(timeout_s=timeout_s))  # type: ignore[arg-type]
        if result.error:
            raise RuntimeError(result.error)  # roll the turn back: nothing the program did stands
        return {"result": result.result, "logs": result.logs}

    @callable
    def books(self) -> list[dict]:
        return self.state["books"]

    @callable(readonly=True)
    def count(self) -> int:
        return len(self.state["books"])
