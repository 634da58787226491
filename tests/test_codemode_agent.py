"""Code Mode inside an agent: programs call the agent's own methods within one turn."""

from __future__ import annotations

import asyncio
import time

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


@pytest.mark.parametrize("language", ["typescript", "python"])
@pytest.mark.parametrize("tool", ["add_book_later", "add_book_slowly"])
async def test_a_timed_out_programs_tools_never_touch_the_agent_afterwards(
    agent_id: str, language: str, tool: str
) -> None:
    """The tool would change the state 1 s after its run timed out, outside any turn: it is cancelled
    (async) or refused (a sync tool's thread), so no later turn sees it, nor fails on it (a read-only
    turn that found the state changed would fail with ReadOnlyError)."""
    librarian = get_agent(Librarian, agent_id)
    code = {
        "typescript": f"return await tools.{tool}({{title: 'Late', seconds: 1.5}});",
        "python": f"await {tool}(title='Late', seconds=1.5)",
    }[language]
    started = time.monotonic()
    with pytest.raises(RuntimeError, match=r"timed out after 0\.5 s"):
        await librarian.program(code, language, timeout_s=0.5)
    # No event marks the moment the tool would have acted: let it pass, with no turn running meanwhile.
    await asyncio.sleep(max(0.0, started + 2.5 - time.monotonic()))
    assert await librarian.count() == 0
    assert await librarian.books() == []
