"""A class shipped by value keeps its methods' type hints (what hosts check and MCP describes)."""

from __future__ import annotations

import datetime
import pickle
import sys
import textwrap
import types
import typing
from collections.abc import AsyncIterator

import pytest
from ray import cloudpickle

from agents import InvalidArgumentsError
from cluster.methods import method_table

SOURCE = textwrap.dedent(
    """
    from __future__ import annotations

    import datetime
    from collections.abc import AsyncIterator

    from agents import Agent, callable


    class Diary(Agent):
        @callable
        def note(self, when: datetime.date) -> datetime.date:
            return when

        @callable
        async def days(self, n: int) -> AsyncIterator[datetime.date]:
            yield n
    """
)


def test_hints_survive_shipping_by_value() -> None:
    """Shipped by value, a function takes only the globals its code uses: `datetime` and
    `AsyncIterator` appear in annotations only, so unresolved hints would be lost on the hosts."""
    module = types.ModuleType("diary_shipped")
    sys.modules[module.__name__] = module
    try:
        exec(compile(SOURCE, "diary_shipped.py", "exec"), module.__dict__)
        cloudpickle.register_pickle_by_value(module)
        blob = cloudpickle.dumps(module.Diary)
    finally:
        cloudpickle.unregister_pickle_by_value(module)
        del sys.modules[module.__name__]
    shipped = pickle.loads(blob)  # as a host does: the module is not importable there
    note = method_table(shipped)["note"]
    assert note.bind(("2026-12-01",), {})[0][0].year == 2026  # validated and converted
    with pytest.raises(InvalidArgumentsError, match="when"):
        note.bind((42,), {})
    days = method_table(shipped)["days"].function
    assert typing.get_type_hints(days)["return"] == AsyncIterator[datetime.date]
