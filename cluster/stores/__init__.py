"""Checkpoint stores, chosen by URL: `file:///path` (default) or `redis://host:port/db`."""

from __future__ import annotations

from urllib.parse import urlparse

from cluster.stores.base import CheckpointStore
from cluster.stores.local import LocalDirectoryStore

__all__ = ["CheckpointStore", "LocalDirectoryStore", "open_store"]


def open_store(url: str) -> CheckpointStore:
    """Open the store a URL names."""
    scheme = urlparse(url).scheme
    if scheme in ("", "file"):
        return LocalDirectoryStore(url.removeprefix("file://"))
    if scheme in ("redis", "rediss", "unix"):
        from cluster.stores.redis import RedisStore

        return RedisStore(url)
    raise ValueError(f"unknown checkpoint store URL {url!r} (use file:///path or redis://host:port)")
