"""Code Mode inside an agent: programs call the agent's own methods within one turn."""

from __future__ import annotations

import pytest

from agents import get_agent
from tests.agents_for_codemode import Librarian

pytestmark = pytest.mark.usefixtures("runtime")

PROGRAMS = {
    "typescript": """
        await tools.add_book({title: "Dune", year: 1965});
        await tools.add_book({title: "Neuromancer", year: 1984});
        console.log("added two");
        return await tools.find({before: 1970});
    """,
    "python": """
await add_book(title="Dune", year=1965)
await add_book(title="Neuromancer", year=1984)
print("added two")
await find(before=1970)
""",
}


@pytest.mark.parametrize("language", ["typescript", "python"])
async def test_program_calls_agent_methods_and_changes_are_checkpointed(agent_id: str, language: str) -> None:
    librarian = get_agent(Librarian, agent_id)
    out = await librarian.program(PROGRAMS[language], language)
    assert out["result"] == ["Dune"]
    assert "added two" in out["logs"]
    assert [b["title"] for b in await librarian.books()] == ["Dune", "Neuromancer"]


async def test_failed_program_rolls_back_what_its_tools_changed(agent_id: str) -> None:
    librarian = get_agent(Librarian, agent_id)
    code = 'await tools.add_book({title: "Ghost", year: 1}); throw new Error("model bug");'
    with pytest.raises(RuntimeError, match="model bug"):
        await librarian.program(code, "typescript")
    assert await librarian.books() == []
