"""Checkpoint stores, chosen by URL: `file:///path` (default), `redis://host:port/db`, or
`postgresql://user@host:port,standby:port/db?target_session_attrs=read-write`."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote, urlparse, urlunparse

from cluster.stores.base import CheckpointStore, printable
from cluster.stores.local import LocalDirectoryStore

__all__ = ["CheckpointStore", "LocalDirectoryStore", "open_store", "printable", "same_store"]


def open_store(url: str, namespace: str) -> CheckpointStore:
    """Open the store a URL names, scoped to one namespace: each namespace is its own universe of
    agents (its own controller, epochs and alarms), even when several share one server or directory."""
    scheme = urlparse(url).scheme
    if scheme in ("", "file"):
        return LocalDirectoryStore(Path(url.removeprefix("file://")) / quote(namespace, safe=""))
    if scheme in ("redis", "rediss", "unix"):
        from cluster.stores.redis import RedisStore

        return RedisStore(url, namespace)
    if scheme in ("postgresql", "postgres"):
        from cluster.stores.postgres import PostgresStore

        return PostgresStore(url, namespace)
    raise ValueError(
        f"unknown checkpoint store URL {url!r} (use file:///path, redis://host:port or postgresql://host/db)"
    )


def same_store(first: str, second: str) -> bool:
    """Whether two store URLs name one store (a directory however it is spelled, else the URL)."""
    return _canonical(first) == _canonical(second)


def _canonical(url: str) -> str:
    parts = urlparse(url)
    if parts.scheme in ("", "file"):
        return "file://" + os.path.realpath(os.path.expanduser(url.removeprefix("file://")))
    if parts.scheme in ("redis", "rediss") and parts.path in ("", "/"):
        return urlunparse(parts._replace(path="/0"))  # database 0 is the default
    return url.rstrip("/")
