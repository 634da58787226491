"""The Redis store when its server goes away or cannot be reached: typed errors, not redis-py's."""

from __future__ import annotations

import re
import signal
import time
import uuid
from pathlib import Path

import pytest

from agents import StoreInterruptedError, StoreUnavailableError
from cluster.stores import open_store
from tests.conftest import free_port
from tests.redis_server import RedisServer


def test_a_server_lost_after_opening_is_a_retriable_typed_error_until_it_returns(tmp_path: Path) -> None:
    """Not the driver's ConnectionError: callers (the router) know to retry StoreInterruptedError.
    Reads, the fenced scripts, pipelines and the batch bump; the URL's password never shown."""
    server = RedisServer(free_port(), tmp_path, password="hunter2")
    server.start()
    try:
        store = open_store(server.url, "t-lost")
        key, other = f"Counter/{uuid.uuid4().hex}", f"Counter/{uuid.uuid4().hex}"
        assert store.bump_epoch(key) == 1
        server.stop()
        shown = re.escape(f"Redis store redis://:***@127.0.0.1:{server.port}/0: ")
        operations = {
            "current_epoch": lambda: store.current_epoch(key),
            "load_manifest": lambda: store.load_manifest(key),
            "save (a script)": lambda: store.save(key, 1, b"manifest", {"h1": b"chunk"}),
            "delete (a script)": lambda: store.delete(key, 1),
            "has_traces (a pipeline)": lambda: store.has_traces(key),
            "bump_epoch": lambda: store.bump_epoch(key),
        }
        for name, operation in operations.items():
            with pytest.raises(StoreInterruptedError, match=shown) as lost:
                operation()
            assert lost.value.retriable, name
            assert "hunter2" not in str(lost.value), name
        bumped = store.bump_epochs([key, other])  # each key's error, not raised
        assert [type(b) for b in bumped] == [StoreInterruptedError, StoreInterruptedError]
        assert "hunter2" not in str(bumped[0])

        server.start()  # same port and data directory: the append-only file has epoch 1
        assert store.bump_epoch(key) == 2  # the same store object, once the server is back
        store.save(key, 2, b"manifest", {"h1": b"chunk"})  # its scripts are loaded again
        assert store.load_manifest(key) == b"manifest"
        assert store.bump_epochs([key, other]) == [3, 1]
        store.close()
    finally:
        server.stop()


def test_an_unreachable_or_refusing_server_is_unavailable_when_the_store_opens(tmp_path: Path) -> None:
    """StoreUnavailableError (not retriable) at open, saying why, as for PostgreSQL."""
    with pytest.raises(StoreUnavailableError, match=r"cannot connect .*server down or unreachable") as down:
        open_store(f"redis://127.0.0.1:{free_port()}/0", "t-unreachable")
    assert not down.value.retriable
    server = RedisServer(free_port(), tmp_path, password="hunter2")
    server.start()
    try:
        with pytest.raises(StoreUnavailableError, match=r"redis://:\*\*\*@.*credentials") as refused:
            open_store(f"redis://:wrong-one@127.0.0.1:{server.port}/0", "t-refused")
        assert not refused.value.retriable
        assert "wrong-one" not in str(refused.value)
    finally:
        server.stop()


def test_a_hung_server_fails_the_call_within_the_reply_timeout(tmp_path: Path) -> None:
    """A server that accepts but never replies (SIGSTOP) does not hold a caller forever: the call
    is StoreInterruptedError after the URL's socket_timeout, once (a timeout is not retried)."""
    server = RedisServer(free_port(), tmp_path)
    server.start()
    try:
        store = open_store(f"{server.url}?socket_timeout=0.5", "t-hung")
        key = f"Counter/{uuid.uuid4().hex}"
        assert store.bump_epoch(key) == 1
        assert server.process is not None
        server.process.send_signal(signal.SIGSTOP)
        try:
            started = time.monotonic()
            with pytest.raises(StoreInterruptedError, match="Timeout"):
                store.current_epoch(key)
            assert time.monotonic() - started < 5
        finally:
            server.process.send_signal(signal.SIGCONT)
        assert store.bump_epoch(key) == 2
        store.close()
    finally:
        server.stop()
