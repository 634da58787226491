"""An agent that lets model-written programs call its methods (importable by Ray workers)."""

from __future__ import annotations

from agents import Agent, callable


class Librarian(Agent):
    initial_state = {"books": []}

    def add_book(self, title: str, year: int) -> int:
        """Add a book; returns how many books there are now."""
        self.set_state({"books": [*self.state["books"], {"title": title, "year": year}]})
        return len(self.state["books"])

    def find(self, before: int) -> list[str]:
        """Titles of books published before a year."""
        return [b["title"] for b in self.state["books"] if b["year"] < before]

    @callable
    async def program(self, code: str, language: str) -> dict:
        result = await self.run_code(code, tools=[self.add_book, self.find], language=language)  # type: ignore[arg-type]
        if result.error:
            raise RuntimeError(result.error)  # roll the turn back: nothing the program did stands
        return {"result": result.result, "logs": result.logs}

    @callable
    def books(self) -> list[dict]:
        return self.state["books"]
