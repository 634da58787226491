"""The PostgreSQL store: agents on it survive SIGKILL, fencing holds under concurrent
transactions, and with a synchronous standby, killing the primary loses no acknowledged write."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import threading
import time
import uuid

import pytest

from agents import (
    AgentUnavailableError,
    StaleEpochError,
    StoreInterruptedError,
    StoreUnavailableError,
    configure,
    get_agent,
)
from cluster.stores import open_store
from cluster.stores.postgres import SCHEMA_VERSION
from tests.agents_under_test import Counter, Journal
from tests.conftest import free_port
from tests.postgres_server import Server, server_directory

pytestmark = pytest.mark.usefixtures("ray_runtime")


async def test_acked_writes_and_restore_points_survive_sigkill_on_postgres(postgres_url: str) -> None:
    configure(namespace="t-postgres", store=postgres_url, hosting="dedicated")
    journal = get_agent(Journal, f"j-{uuid.uuid4().hex[:8]}")
    for i in range(5):
        await journal.write(f"line {i}")
        if i % 2:
            os.kill((await journal.describe())["pid"], signal.SIGKILL)
    assert (await journal.read())["lines"] == [f"line {i}" for i in range(5)]
    points = await journal.list_checkpoints()
    await journal.restore(points[2].id)
    fork = await journal.fork(f"{journal.id}-fork")
    assert (await fork.read())["lines"] == (await journal.read())["lines"]


def test_a_stale_epoch_never_wins_against_concurrent_bumps(postgres_url: str) -> None:
    """Writers save with epochs old and new while a bumper takes new ones: stale saves are
    refused, and once the last bump has returned only its epoch can save."""
    store = open_store(postgres_url, "t-fence")
    key = f"Counter/{uuid.uuid4().hex}"
    epochs = [store.bump_epoch(key)]
    refused, saved = [], []
    lock = threading.Lock()

    def writer() -> None:
        for _ in range(40):
            with lock:
                mine = epochs[-1] if len(epochs) % 2 else epochs[0]  # sometimes the first, stale one
            try:
                store.save(key, mine, str(mine).encode(), {})
                saved.append(mine)
            except StaleEpochError:
                refused.append(mine)

    def bumper() -> None:
        for _ in range(10):
            bumped = store.bump_epoch(key)
            with lock:
                epochs.append(bumped)

    threads = [threading.Thread(target=writer) for _ in range(4)] + [threading.Thread(target=bumper)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    newest = store.current_epoch(key)
    assert newest == epochs[-1] == 11
    assert refused and saved, "stale and current saves were both tried"
    store.save(key, newest, b"last", {})
    with pytest.raises(StaleEpochError):
        store.save(key, newest - 1, b"zombie", {})
    assert store.load_manifest(key) == b"last"


def test_bad_servers_are_refused_when_the_store_opens(postgres_url: str) -> None:
    import psycopg

    unreachable = f"postgresql://postgres@127.0.0.1:{free_port()}/postgres"
    with pytest.raises(StoreUnavailableError, match="no connection within"):
        open_store(unreachable, "t-bad")
    with pytest.raises(StoreUnavailableError, match="credentials"):
        open_store(postgres_url.replace("postgres@", "nobody_here@"), "t-bad")
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS newer")
        conn.execute("CREATE DATABASE newer")
    newer = postgres_url.rsplit("/", 1)[0] + "/newer"
    open_store(newer, "t-bad").close()
    with psycopg.connect(newer, autocommit=True) as conn:
        conn.execute("INSERT INTO ra_schema (version) VALUES (%s)", (SCHEMA_VERSION + 1,))
        before = conn.execute("SELECT count(*) FROM ra_agents").fetchone()
    with pytest.raises(StoreUnavailableError, match="newer ray-agents"):
        open_store(newer, "t-bad")
    with psycopg.connect(newer) as conn:
        assert conn.execute("SELECT count(*) FROM ra_agents").fetchone() == before  # nothing changed


def test_a_server_lost_after_opening_is_a_retriable_typed_error_until_it_returns() -> None:
    """Not the driver's own exceptions: callers (the router) know to retry StoreInterruptedError."""
    with server_directory() as directory:
        server = Server(directory / "lone", free_port(), "lone")
        server.init_primary()
        server.start()
        try:
            store = open_store(server.url, "t-lost")
            key = f"Counter/{uuid.uuid4().hex}"
            assert store.bump_epoch(key) == 1
            server.stop()
            for read in (lambda: store.current_epoch(key), lambda: store.load_manifest(key)):
                with pytest.raises(StoreInterruptedError, match=f"PostgreSQL store .*:{server.port}") as lost:
                    read()
                assert lost.value.retriable
            assert isinstance(store.bump_epochs([key])[0], StoreInterruptedError)
            server.start()
            assert store.bump_epoch(key) == 2  # the same store, once the server is back
            store.close()
        finally:
            server.stop()


async def test_an_unreachable_store_is_a_typed_error_for_callers_not_a_hang() -> None:
    configure(
        namespace=f"t-unreachable-{uuid.uuid4().hex[:6]}",
        store=f"postgresql://postgres@127.0.0.1:{free_port()}/x",
    )
    with pytest.raises(StoreUnavailableError, match="no connection within"):
        await get_agent(Counter, "a").add(1)


async def test_killing_the_primary_loses_no_acknowledged_write() -> None:
    """A primary with a synchronous standby; writers on agents; SIGKILL the primary postmaster,
    promote the standby. The store URL lists both (target_session_attrs=read-write)."""
    await _failover(seconds=12)


@pytest.mark.chaos
async def test_killing_the_primary_in_a_long_run() -> None:
    """`make chaos`: the same, with writers going on for CHAOS_SECONDS after the promotion."""
    await _failover(seconds=4 + float(os.environ.get("CHAOS_SECONDS", "60")))


async def _failover(seconds: float) -> None:
    with server_directory() as directory:
        primary = Server(directory / "primary", free_port(), "primary")
        standby = Server(directory / "standby", free_port(), "standby1")
        primary.init_primary(synchronous_standby="standby1")
        primary.start()
        standby.init_standby_of(primary)
        standby.start()
        await _until_synchronous(primary)
        await _commits_wait_for_the_standby(primary, standby)
        with pytest.raises(StoreUnavailableError, match="read-only"):
            open_store(standby.url, "t-failover")  # a standby given as the primary
        url = (
            f"postgresql://postgres@127.0.0.1:{primary.port},127.0.0.1:{standby.port}/postgres"
            "?target_session_attrs=read-write&connect_timeout=2"
        )
        try:
            report = await _writers_across_failover(url, primary, standby, seconds)
        finally:
            standby.stop()
            primary.stop()
    print(f"\npostgres failover: {report}")


async def _until_synchronous(primary: Server) -> None:
    """Wait until the standby confirms commits (`sync_state = 'sync'`): only then is an
    acknowledged write on two machines."""
    import psycopg

    deadline = time.monotonic() + 30
    while True:
        with psycopg.connect(primary.url) as conn:
            states = [r[0] for r in conn.execute("SELECT sync_state FROM pg_stat_replication").fetchall()]
        if states == ["sync"]:
            return
        assert time.monotonic() < deadline, f"standby never became synchronous: {states}"
        await asyncio.sleep(0.1)


async def _commits_wait_for_the_standby(primary: Server, standby: Server) -> None:
    """The control: with the standby stopped, a commit on the primary does not return (so a
    returned one is on both machines); it does once the standby runs again."""
    import psycopg

    def commit() -> None:
        with psycopg.connect(primary.url, autocommit=True) as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS probe (n int)")
            conn.execute("INSERT INTO probe VALUES (1)")

    await asyncio.to_thread(commit)  # the table exists, so only the INSERT waits below
    standby.pause()
    try:
        pending = asyncio.ensure_future(asyncio.to_thread(commit))
        done, _ = await asyncio.wait({pending}, timeout=1.5)
        assert not done, "a commit returned while the synchronous standby was stopped"
    finally:
        standby.resume()
    await asyncio.wait_for(pending, 30)


async def _writers_across_failover(url: str, primary: Server, standby: Server, seconds: float) -> str:
    namespace = f"t-failover-{uuid.uuid4().hex[:6]}"
    configure(namespace=namespace, store=url, hosting="pooled")
    counters = [get_agent(Counter, f"c{i}") for i in range(4)]
    acked: dict[str, list[int]] = {c.id: [] for c in counters}
    errors: list[str] = []
    stop_at = time.monotonic() + seconds
    killed_at: float | None = None
    after_kill: list[float] = []  # latency of each write started after the SIGKILL
    before_kill: list[int] = []  # writes acknowledged by the first primary
    acked_at: list[float] = []

    async def writer(counter, offset: int) -> None:
        value = offset
        while time.monotonic() < stop_at:
            value += 1
            started = time.monotonic()
            try:
                await counter.add(value)
            except AgentUnavailableError as exc:  # not acknowledged: may or may not have applied
                errors.append(type(exc).__name__)
                continue
            acked[counter.id].append(value)
            acked_at.append(time.monotonic())
            if killed_at is None:
                before_kill.append(value)
            elif started > killed_at:
                after_kill.append(time.monotonic() - started)

    async def failover() -> None:
        nonlocal killed_at
        await asyncio.sleep(4)
        killed_at = time.monotonic()
        primary.kill()
        await asyncio.to_thread(standby.promote)

    await asyncio.gather(*(writer(c, 1_000_000 * (i + 1)) for i, c in enumerate(counters)), failover())
    assert before_kill, "writes were acknowledged by the first primary"
    for pid in {(await c.describe())["pid"] for c in counters}:  # read back from the store, not memory
        os.kill(pid, signal.SIGKILL)
    total = 0
    for counter in counters:
        logged = await counter.logged()
        assert len(logged) == len(set(logged)), f"{counter.id}: a write was applied twice"
        missing = set(acked[counter.id]) - set(logged)
        assert not missing, f"{counter.id}: acknowledged writes lost: {sorted(missing)[:5]}"
        total += len(acked[counter.id])
    assert after_kill, "writes went on after the failover"
    stall = max(b - a for a, b in itertools.pairwise(sorted(acked_at)))
    return (
        f"{total} acked writes ({len(after_kill)} started after the SIGKILL), 0 lost, 0 duplicated; "
        f"{len(errors)} calls gave up; no write was acknowledged for {stall:.2f} s around the failover"
    )
