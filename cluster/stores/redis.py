"""Checkpoints in Redis, for clusters of many machines.

Why Redis: one small server that every node reaches; with `appendonly yes` and
`appendfsync always` each write is fsynced to the append-only file before Redis replies, and a
Lua script makes the fence check and the publish one atomic step.

A server lost after the store opened (down, restarting, the network cut, no reply within
`REPLY_TIMEOUT`) makes each operation fail with StoreInterruptedError, retriable, not the driver's
own errors; the same store object works again once the server is back. A server that cannot be
reached when the store is opened is StoreUnavailableError. The URL's `?socket_connect_timeout=`
and `?socket_timeout=` (seconds) override the timeouts below.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any, TypeVar

from agents.errors import StaleEpochError, StoreInterruptedError, StoreUnavailableError
from cluster.stores.base import CheckpointStore, printable

#: Seconds to wait for a connection to the server.
CONNECT_TIMEOUT = 10.0
#: Seconds to wait for a reply (a save's script replies once its writes are fsynced): a hung
#: server fails the call instead of holding it forever.
REPLY_TIMEOUT = 30.0

_Method = TypeVar("_Method", bound=Callable[..., Any])


def _interruptible(method: _Method) -> _Method:
    """The store method, with a lost connection to the server raised as StoreInterruptedError."""

    @functools.wraps(method)
    def call(self: RedisStore, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except self._lost_connection as exc:
            raise self._interrupted(exc) from exc

    return call  # type: ignore[return-value]


# Every script takes KEYS: epoch, manifest, chunks, index, history, destroyed, and ARGV[1]: the
# writer's epoch; it starts by refusing a superseded epoch (the fence), atomically with its writes.
_FENCE = """
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) < current then
  return redis.error_reply('STALE ' .. current)
end
"""

# ARGV: epoch, manifest, agent key, history entry number ('' for none), n_new, then n_new
# (hash, data) pairs.
_SAVE = (
    _FENCE
    + """
local n = tonumber(ARGV[5])
for i = 0, n - 1 do
  redis.call('HSET', KEYS[3], ARGV[6 + 2 * i], ARGV[7 + 2 * i])
end
redis.call('SET', KEYS[2], ARGV[2])
if ARGV[4] ~= '' then
  redis.call('HSET', KEYS[5], ARGV[4], ARGV[2])
end
redis.call('SADD', KEYS[4], ARGV[3])
redis.call('DEL', KEYS[6])
return 'OK'
"""
)

# ARGV: epoch, n_forget, then the history entry numbers to forget, then the chunk hashes to delete.
_COLLECT = (
    _FENCE
    + """
local n = tonumber(ARGV[2])
for i = 3, 2 + n do
  redis.call('HDEL', KEYS[5], ARGV[i])
end
for i = 3 + n, #ARGV do
  redis.call('HDEL', KEYS[3], ARGV[i])
end
return 'OK'
"""
)

# ARGV: epoch, agent key.
_DELETE = (
    _FENCE
    + """
redis.call('DEL', KEYS[2], KEYS[3], KEYS[5])
redis.call('SET', KEYS[6], '1')
redis.call('SREM', KEYS[4], ARGV[2])
return 'OK'
"""
)


class RedisStore(CheckpointStore):
    """One Redis server (or a primary with replicas; not Redis Cluster: the save script also
    updates the global index set). Keys per agent:
    `ra:{namespace}:{key}:epoch`, `...:manifest`, `...:chunks` and `...:history` (hashes),
    `...:destroyed`, plus the namespace's `index` set, `alarms` sorted set and `classes` hash."""

    def __init__(self, url: str, namespace: str) -> None:
        import redis  # optional dependency: pip install 'ray-agents[redis]'
        from redis.backoff import ExponentialWithJitterBackoff
        from redis.retry import Retry

        self._prefix = f"ra:{namespace}:"
        self._shown = shown = printable(url)
        # ConnectionError includes refused credentials and a server still loading its AOF.
        self._lost_connection = (redis.ConnectionError, redis.TimeoutError)
        self._redis = redis.Redis.from_url(
            url,
            socket_connect_timeout=CONNECT_TIMEOUT,
            socket_timeout=REPLY_TIMEOUT,
            socket_keepalive=True,
            # A few quick reconnections (a connection the server closed, a blip), then the typed
            # error, within a second: the router retries on a fresh activation. Not after a
            # timeout: each retry would wait REPLY_TIMEOUT again.
            retry=Retry(ExponentialWithJitterBackoff(base=0.05, cap=0.5), 3, (redis.ConnectionError,)),
        )
        try:
            self._redis.ping()
        except self._lost_connection as exc:
            self._redis.close()
            raise StoreUnavailableError(
                f"Redis store {shown}: cannot connect ({_first_line(exc)}): server down or "
                "unreachable, or the credentials were refused"
            ) from None
        self._save = self._redis.register_script(_SAVE)
        self._delete = self._redis.register_script(_DELETE)
        self._collect = self._redis.register_script(_COLLECT)
        self._error = redis.ResponseError

    def _names(self, key: str) -> list[str]:
        p = self._prefix
        agent = f"{p}{{{key}}}"
        own = [f"{agent}:{name}" for name in ("epoch", "manifest", "chunks")]
        return [*own, f"{p}index", f"{agent}:history", f"{agent}:destroyed"]

    def _interrupted(self, exc: Exception) -> StoreInterruptedError:
        return StoreInterruptedError(f"Redis store {self._shown}: {_first_line(exc)}")

    def _fenced(self, script, keys: list[str], args: list) -> None:
        try:
            script(keys=keys, args=args)
        except self._error as exc:
            if str(exc).startswith("STALE"):
                raise StaleEpochError(f"epoch {args[0]} was superseded: {exc}") from None
            raise

    def bump_epochs(self, keys: list[str]) -> list[int | Exception]:
        """One round trip for the batch (INCR is atomic per key; no transaction is needed)."""
        pipe = self._redis.pipeline(transaction=False)
        for key in keys:
            pipe.incr(self._names(key)[0])
        try:
            results = pipe.execute(raise_on_error=False)
        except self._lost_connection as exc:  # the batch fails as a whole, each key says why
            return [self._interrupted(exc)] * len(keys)
        return [r if isinstance(r, Exception) else int(r) for r in results]

    @_interruptible
    def current_epoch(self, key: str) -> int:
        return int(self._redis.get(self._names(key)[0]) or 0)

    @_interruptible
    def load_manifest(self, key: str) -> bytes | None:
        return self._redis.get(self._names(key)[1])

    @_interruptible
    def load_chunks(self, key: str, hashes: Iterable[str]) -> dict[str, bytes]:
        wanted = sorted(set(hashes))
        if not wanted:
            return {}
        values = self._redis.hmget(self._names(key)[2], wanted)
        found = {h: v for h, v in zip(wanted, values, strict=True) if v is not None}
        return self.all_found(key, wanted, found)

    @_interruptible
    def save(
        self,
        key: str,
        epoch: int,
        manifest: bytes,
        new_chunks: Mapping[str, bytes],
        keep_as: int | None = None,
    ) -> None:
        args: list = [epoch, manifest, key, "" if keep_as is None else keep_as, len(new_chunks)]
        for digest, data in new_chunks.items():
            args += [digest, data]
        self._fenced(self._save, self._names(key), args)

    @_interruptible
    def put_chunks(self, key: str, chunks: Mapping[str, bytes]) -> None:
        if chunks:
            self._redis.hset(self._names(key)[2], mapping=dict(chunks))

    @_interruptible
    def history(self, key: str) -> list[int]:
        return sorted(int(seq) for seq in self._redis.hkeys(self._names(key)[4]))

    @_interruptible
    def load_history(self, key: str, seq: int) -> bytes | None:
        return self._redis.hget(self._names(key)[4], str(seq))

    @_interruptible
    def chunk_names(self, key: str) -> set[str]:
        return {h.decode() for h in self._redis.hkeys(self._names(key)[2])}

    @_interruptible
    def has_traces(self, key: str) -> bool:
        """One round trip: in the index of saved agents, or chunks or history stored."""
        names = self._names(key)
        pipe = self._redis.pipeline(transaction=False)
        pipe.sismember(names[3], key)
        pipe.exists(names[2], names[4])
        indexed, stored = pipe.execute()
        return bool(indexed or stored)

    @_interruptible
    def collect(self, key: str, epoch: int, forget: Collection[int], drop: Collection[str]) -> None:
        self._fenced(self._collect, self._names(key), [epoch, len(forget), *forget, *drop])

    @_interruptible
    def delete(self, key: str, epoch: int) -> None:
        self._fenced(self._delete, self._names(key), [epoch, key])

    @_interruptible
    def destroyed(self, key: str) -> bool:
        return bool(self._redis.exists(self._names(key)[5]))

    @_interruptible
    def set_alarm(self, key: str, due: float | None) -> None:
        if due is None:
            self._redis.zrem(self._prefix + "alarms", key)
        else:
            self._redis.zadd(self._prefix + "alarms", {key: due})

    @_interruptible
    def due_alarms(self, now: float, limit: int = 100) -> list[tuple[str, float]]:
        rows = self._redis.zrangebyscore(
            self._prefix + "alarms", "-inf", now, start=0, num=limit, withscores=True
        )
        return [(key.decode(), due) for key, due in rows]

    @_interruptible
    def save_class(self, name: str, blob: bytes) -> None:
        self._redis.hset(self._prefix + "classes", name, blob)

    @_interruptible
    def load_class(self, name: str) -> bytes | None:
        return self._redis.hget(self._prefix + "classes", name)

    @_interruptible
    def keys(self) -> list[str]:
        return sorted(k.decode() for k in self._redis.smembers(self._prefix + "index"))

    def close(self) -> None:
        self._redis.close()


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
