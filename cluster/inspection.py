"""What the inspector shows of one live agent, read inside its host from its activation.

Everything here is read between turns (`Activation.between_turns`), so it shows what turns
committed, never half a turn, and changes nothing: the state, the SQL tables (columns, row
counts), schedules, queue and open connections, and read-only queries of the database
(`AgentDatabase.read`). Values become JSON-friendly data (what JSON cannot hold, its repr).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pydantic_core

from cluster.activation import Activation
from cluster.database import SECRET_PREFIX
from cluster.sockets import SECTION as CONNECTIONS

#: Rows a query returns at most, whatever it asks for.
MAX_ROWS = 1000
#: Tables the runtime keeps in an agent's database (schedules, queue, durable jobs).
INTERNAL_PREFIX = "_ra_"


def _plain(value: Any) -> Any:
    return pydantic_core.to_jsonable_python(value, fallback=repr)


async def snapshot(activation: Activation) -> dict[str, Any]:
    """State, tables, schedules, queue and connections of the agent, as of its last turn, and
    the turn running when asked (None: none)."""
    running = activation.current_turn  # asked first: between turns, none runs
    return {**await activation.between_turns(lambda: _snapshot(activation)), "current_turn": running}


async def query(activation: Activation, sql: str, limit: int = 100) -> dict[str, Any]:
    """One read-only statement on the agent's database: {"columns", "rows", "truncated"}, up to
    `limit` rows (at most MAX_ROWS). A statement that would write is refused (ReadOnlyError)."""
    limit = max(1, min(limit, MAX_ROWS))
    found = await activation.between_turns(lambda: activation.db.read(sql, limit))
    return _plain(dataclasses.asdict(found))


def _snapshot(a: Activation) -> dict[str, Any]:
    scheduled = a.scheduler.in_use()  # else reading its tables would create them
    return {
        "state": _plain(a.get_state()),
        "next_due": a.scheduler.next_due() if scheduled else None,
        "tables": _tables(a),
        "schedules": [_plain(dataclasses.asdict(s)) for s in a.scheduler.list()] if scheduled else [],
        "queue": [_plain(dataclasses.asdict(q)) for q in a.scheduler.list_queue()] if scheduled else [],
        "connections": [
            {
                "id": conn_id,
                "readonly": r.get("readonly"),
                "replica": r.get("replica"),
                "state": _plain(r.get("state")),
            }
            for conn_id, r in a.sections.get(CONNECTIONS, {}).items()
        ],
    }


def _tables(a: Activation) -> list[dict[str, Any]]:
    """Each table: name, columns (name, type), row count, whether the runtime keeps it."""
    if a.db.empty:  # never opened, nothing stored: no file to open for nothing
        return []
    names = a.db.read("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name", MAX_ROWS).rows
    tables = []
    for (name,) in names:
        quoted = '"' + name.replace('"', '""') + '"'
        columns = a.db.read(f"PRAGMA table_info({quoted})", MAX_ROWS)
        index = {c: i for i, c in enumerate(columns.columns)}
        (count,) = a.db.read(f"SELECT COUNT(*) FROM {quoted}", 1).rows[0]
        tables.append(
            {
                "name": name,
                "columns": [{"name": c[index["name"]], "type": c[index["type"]]} for c in columns.rows],
                "rows": count,
                "internal": name.startswith((INTERNAL_PREFIX, SECRET_PREFIX, "sqlite_")),
            }
        )
    return tables
