"""Checkpoints in PostgreSQL: every acknowledged write on a server our users already run, and
with a synchronous standby, on a second machine before it is acknowledged.

Why PostgreSQL: `synchronous_commit=on` with `synchronous_standby_names` makes a commit return
only once a standby has it, so losing the primary's machine loses nothing acknowledged (Redis
documents `WAIT` as not making it strongly consistent). Why psycopg 3 with psycopg_pool: the
maintained driver and its own pool (a blocking API suits the stores' thread calls; asyncpg would
need an event loop per thread). A URL may list several hosts with
`target_session_attrs=read-write` (libpq's own failover): after a promotion, new connections
find the new primary; a write in flight fails, its activation retires, its callers retry.

Fencing is done in the database: a save, collection or delete locks the agent's epoch row
(`FOR UPDATE`) and refuses an older epoch in the same transaction, and a bump waits for that lock,
so a stale epoch can never win, whatever transactions run concurrently.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from agents.errors import StaleEpochError, StoreInterruptedError, StoreUnavailableError
from cluster.stores.base import CheckpointStore, printable

_SCHEMA = """
CREATE TABLE IF NOT EXISTS ra_agents (
    ns text NOT NULL, key text NOT NULL, epoch bigint NOT NULL DEFAULT 0, manifest bytea,
    destroyed boolean NOT NULL DEFAULT false, PRIMARY KEY (ns, key));
CREATE TABLE IF NOT EXISTS ra_chunks (
    ns text NOT NULL, key text NOT NULL, hash text NOT NULL, data bytea NOT NULL,
    PRIMARY KEY (ns, key, hash));
CREATE TABLE IF NOT EXISTS ra_history (
    ns text NOT NULL, key text NOT NULL, seq bigint NOT NULL, manifest bytea NOT NULL,
    PRIMARY KEY (ns, key, seq));
CREATE TABLE IF NOT EXISTS ra_alarms (
    ns text NOT NULL, key text NOT NULL, due double precision NOT NULL, PRIMARY KEY (ns, key));
CREATE INDEX IF NOT EXISTS ra_alarms_due ON ra_alarms (ns, due);
CREATE TABLE IF NOT EXISTS ra_classes (
    ns text NOT NULL, name text NOT NULL, blob bytea NOT NULL, PRIMARY KEY (ns, name));
CREATE TABLE IF NOT EXISTS ra_schema (version integer NOT NULL);
"""
#: Version of the tables above; a store written by a newer version is refused, not altered.
SCHEMA_VERSION = 1
#: Seconds to wait for a first connection when the store is opened.
CONNECT_TIMEOUT = float(os.environ.get("RAY_AGENTS_PG_CONNECT_TIMEOUT", "10"))
#: Any constant: processes creating the schema at once take turns (CREATE IF NOT EXISTS races).
_SCHEMA_LOCK = 0x7261_6167

#: Connections per process, opened on demand and closed after a minute idle: every agent host
#: (each dedicated agent is a process) has its own pool, so keep it small and the server's
#: `max_connections` above hosts x this, or put PgBouncer in front (transaction pooling; the
#: store prepares no statements there: `prepare_threshold` is off).
POOL_SIZE = int(os.environ.get("RAY_AGENTS_PG_POOL_SIZE", "4"))
#: libpq and server settings so a dead peer never holds a lock or a caller for long: keepalives
#: and a TCP timeout on the client; on the server, an abandoned transaction (its host died mid-
#: save) is ended after 30 s, releasing the epoch row a new activation's bump waits for.
_CONNECTION = {
    "keepalives": 1,
    "keepalives_idle": 5,
    "keepalives_interval": 2,
    "keepalives_count": 3,
    "tcp_user_timeout": 15_000,
    "options": "-c idle_in_transaction_session_timeout=30000 -c statement_timeout=300000",
    "prepare_threshold": None,
}


class PostgresStore(CheckpointStore):
    """Tables shared by every namespace (a `ns` column): `ra_agents` (epoch, latest manifest,
    destroyed), `ra_chunks`, `ra_history`, `ra_alarms`, `ra_classes`."""

    def __init__(self, url: str, namespace: str) -> None:
        import psycopg
        from psycopg_pool import ConnectionPool, PoolTimeout  # pip install 'ray-agents[postgres]'

        self.ns = namespace
        self._shown = shown = printable(url)
        self._lost_connection = (PoolTimeout, psycopg.OperationalError)
        self._pool = ConnectionPool(
            url,
            kwargs={"connect_timeout": max(1, int(CONNECT_TIMEOUT)), **_CONNECTION},
            min_size=0,
            max_size=POOL_SIZE,
            max_idle=60,
            timeout=CONNECT_TIMEOUT,
            # The pool retries a failed connection with doubling delays until this: left at its
            # 5 min, a store could wait minutes after the server (or a promoted standby) is back.
            reconnect_timeout=CONNECT_TIMEOUT,
            check=ConnectionPool.check_connection,  # a connection to a dead primary is replaced
            open=True,
        )
        try:
            self._open_schema()
        except StoreInterruptedError:
            self._pool.close()
            raise StoreUnavailableError(
                f"PostgreSQL store {shown}: no connection within {CONNECT_TIMEOUT:g} s "
                "(server down or unreachable, or the credentials were refused: see the server's log)"
            ) from None
        except (psycopg.errors.ReadOnlySqlTransaction, _InRecovery):
            self._pool.close()
            raise StoreUnavailableError(
                f"PostgreSQL store {shown} is read-only (a standby?): give the primary, or list every "
                "server with target_session_attrs=read-write"
            ) from None
        except BaseException:
            self._pool.close()
            raise

    def _open_schema(self) -> None:
        """Check the server takes writes and the tables' version; create them if missing (only
        then, under a lock: hosts start by the hundred, and DDL needs the CREATE privilege)."""
        with self._tx() as cur:
            cur.execute("SELECT pg_is_in_recovery(), to_regclass('ra_schema') IS NOT NULL")
            in_recovery, exists = cur.fetchone()
            if in_recovery:
                raise _InRecovery
            if not exists:
                cur.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
                cur.execute(_SCHEMA)
            cur.execute("SELECT max(version) FROM ra_schema")
            (found,) = cur.fetchone()
            if found is None:
                cur.execute("INSERT INTO ra_schema (version) VALUES (%s)", (SCHEMA_VERSION,))
            elif found > SCHEMA_VERSION:
                raise StoreUnavailableError(
                    f"this PostgreSQL store was written by a newer ray-agents (schema {found}; this "
                    f"version knows {SCHEMA_VERSION}): upgrade ray-agents, nothing was changed"
                )

    @contextmanager
    def _tx(self) -> Iterator[Any]:
        """A cursor in one transaction (committed when the block ends without error). A lost
        connection (none to be had, the server gone mid-transaction) is StoreInterruptedError."""
        try:
            with self._pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
                yield cur
        except self._lost_connection as exc:
            detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise StoreInterruptedError(f"PostgreSQL store {self._shown}: {detail}") from exc

    def _fence(self, cur: Any, key: str, epoch: int) -> None:
        """Lock the agent's epoch row for this transaction and refuse a superseded epoch."""
        cur.execute("INSERT INTO ra_agents (ns, key) VALUES (%s, %s) ON CONFLICT DO NOTHING", (self.ns, key))
        cur.execute("SELECT epoch FROM ra_agents WHERE ns = %s AND key = %s FOR UPDATE", (self.ns, key))
        (current,) = cur.fetchone()
        if epoch < current:
            raise StaleEpochError(f"{key}: epoch {epoch} was superseded by {current}")

    def bump_epochs(self, keys: list[str]) -> list[int | Exception]:
        """One statement for the batch (each row's increment is atomic)."""
        if not keys:
            return []
        try:
            with self._tx() as cur:
                cur.execute(
                    "INSERT INTO ra_agents (ns, key, epoch) SELECT %s, k, 1 FROM unnest(%s::text[]) AS k"
                    " ORDER BY k ON CONFLICT (ns, key) DO UPDATE SET epoch = ra_agents.epoch + 1"
                    " RETURNING key, epoch",
                    (self.ns, sorted(set(keys))),
                )
                bumped = dict(cur.fetchall())
        except Exception as exc:  # one statement: the batch fails (or succeeds) as a whole
            return [exc] * len(keys)
        return [bumped[key] for key in keys]

    def current_epoch(self, key: str) -> int:
        row = self._one("SELECT epoch FROM ra_agents WHERE ns = %s AND key = %s", key)
        return row[0] if row else 0

    def _one(self, query: str, *params: Any) -> tuple | None:
        with self._tx() as cur:
            cur.execute(query, (self.ns, *params))
            return cur.fetchone()

    def load_manifest(self, key: str) -> bytes | None:
        row = self._one("SELECT manifest FROM ra_agents WHERE ns = %s AND key = %s", key)
        return bytes(row[0]) if row and row[0] is not None else None

    def load_chunks(self, key: str, hashes: Iterable[str]) -> dict[str, bytes]:
        wanted = sorted(set(hashes))
        if not wanted:
            return {}
        with self._tx() as cur:
            cur.execute(
                "SELECT hash, data FROM ra_chunks WHERE ns = %s AND key = %s AND hash = ANY(%s)",
                (self.ns, key, wanted),
            )
            found = {h: bytes(d) for h, d in cur.fetchall()}
        return self.all_found(key, wanted, found)

    def _put(self, cur: Any, key: str, chunks: Mapping[str, bytes]) -> None:
        if chunks:
            cur.executemany(
                "INSERT INTO ra_chunks (ns, key, hash, data) VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
                [(self.ns, key, h, data) for h, data in chunks.items()],
            )

    def save(
        self,
        key: str,
        epoch: int,
        manifest: bytes,
        new_chunks: Mapping[str, bytes],
        keep_as: int | None = None,
    ) -> None:
        with self._tx() as cur:
            self._fence(cur, key, epoch)
            self._put(cur, key, new_chunks)
            cur.execute(
                "UPDATE ra_agents SET manifest = %s, destroyed = false WHERE ns = %s AND key = %s",
                (manifest, self.ns, key),
            )
            if keep_as is not None:
                cur.execute(
                    "INSERT INTO ra_history (ns, key, seq, manifest) VALUES (%s, %s, %s, %s)"
                    " ON CONFLICT (ns, key, seq) DO UPDATE SET manifest = EXCLUDED.manifest",
                    (self.ns, key, keep_as, manifest),
                )

    def put_chunks(self, key: str, chunks: Mapping[str, bytes]) -> None:
        with self._tx() as cur:
            self._put(cur, key, chunks)

    def history(self, key: str) -> list[int]:
        with self._tx() as cur:
            cur.execute("SELECT seq FROM ra_history WHERE ns = %s AND key = %s ORDER BY seq", (self.ns, key))
            return [seq for (seq,) in cur.fetchall()]

    def load_history(self, key: str, seq: int) -> bytes | None:
        row = self._one("SELECT manifest FROM ra_history WHERE ns = %s AND key = %s AND seq = %s", key, seq)
        return bytes(row[0]) if row else None

    def chunk_names(self, key: str) -> set[str]:
        with self._tx() as cur:
            cur.execute("SELECT hash FROM ra_chunks WHERE ns = %s AND key = %s", (self.ns, key))
            return {h for (h,) in cur.fetchall()}

    def has_traces(self, key: str) -> bool:
        """One query: chunks or history stored."""
        row = self._one(
            "SELECT EXISTS (SELECT 1 FROM ra_chunks WHERE ns = %s AND key = %s)"
            " OR EXISTS (SELECT 1 FROM ra_history WHERE ns = %s AND key = %s)",
            key,
            self.ns,
            key,
        )
        return bool(row and row[0])

    def collect(self, key: str, epoch: int, forget: Collection[int], drop: Collection[str]) -> None:
        with self._tx() as cur:
            self._fence(cur, key, epoch)
            cur.execute(
                "DELETE FROM ra_history WHERE ns = %s AND key = %s AND seq = ANY(%s)",
                (self.ns, key, list(forget)),
            )
            cur.execute(
                "DELETE FROM ra_chunks WHERE ns = %s AND key = %s AND hash = ANY(%s)",
                (self.ns, key, list(drop)),
            )

    def delete(self, key: str, epoch: int) -> None:
        with self._tx() as cur:
            self._fence(cur, key, epoch)
            for table in ("ra_chunks", "ra_history"):
                cur.execute(f"DELETE FROM {table} WHERE ns = %s AND key = %s", (self.ns, key))
            cur.execute(
                "UPDATE ra_agents SET manifest = NULL, destroyed = true WHERE ns = %s AND key = %s",
                (self.ns, key),
            )

    def destroyed(self, key: str) -> bool:
        row = self._one("SELECT destroyed FROM ra_agents WHERE ns = %s AND key = %s", key)
        return bool(row and row[0])

    def keys(self) -> list[str]:
        with self._tx() as cur:
            cur.execute(
                "SELECT key FROM ra_agents WHERE ns = %s AND manifest IS NOT NULL ORDER BY key", (self.ns,)
            )
            return [key for (key,) in cur.fetchall()]

    def set_alarm(self, key: str, due: float | None) -> None:
        with self._tx() as cur:
            if due is None:
                cur.execute("DELETE FROM ra_alarms WHERE ns = %s AND key = %s", (self.ns, key))
            else:
                cur.execute(
                    "INSERT INTO ra_alarms (ns, key, due) VALUES (%s, %s, %s)"
                    " ON CONFLICT (ns, key) DO UPDATE SET due = EXCLUDED.due",
                    (self.ns, key, due),
                )

    def due_alarms(self, now: float, limit: int = 100) -> list[tuple[str, float]]:
        with self._tx() as cur:
            cur.execute(
                "SELECT key, due FROM ra_alarms WHERE ns = %s AND due <= %s ORDER BY due LIMIT %s",
                (self.ns, now, limit),
            )
            return [(key, due) for key, due in cur.fetchall()]

    def save_class(self, name: str, blob: bytes) -> None:
        with self._tx() as cur:
            cur.execute(
                "INSERT INTO ra_classes (ns, name, blob) VALUES (%s, %s, %s)"
                " ON CONFLICT (ns, name) DO UPDATE SET blob = EXCLUDED.blob",
                (self.ns, name, blob),
            )

    def load_class(self, name: str) -> bytes | None:
        row = self._one("SELECT blob FROM ra_classes WHERE ns = %s AND name = %s", name)
        return bytes(row[0]) if row else None

    def close(self) -> None:
        self._pool.close()


class _InRecovery(Exception):
    """The server is a standby (in recovery): it takes no writes."""
