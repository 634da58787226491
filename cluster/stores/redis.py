"""Checkpoints in Redis, for clusters of many machines.

Why Redis: one small server that every node reaches; with `appendonly yes` and
`appendfsync always` each write is fsynced to the append-only file before Redis replies, and a
Lua script makes the fence check and the publish one atomic step.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping

from agents.errors import StaleEpochError
from cluster.stores.base import CheckpointStore

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

        self._prefix = f"ra:{namespace}:"

        self._redis = redis.Redis.from_url(url)
        self._save = self._redis.register_script(_SAVE)
        self._delete = self._redis.register_script(_DELETE)
        self._collect = self._redis.register_script(_COLLECT)
        self._error = redis.ResponseError

    def _names(self, key: str) -> list[str]:
        p = self._prefix
        agent = f"{p}{{{key}}}"
        own = [f"{agent}:{name}" for name in ("epoch", "manifest", "chunks")]
        return [*own, f"{p}index", f"{agent}:history", f"{agent}:destroyed"]

    def _fenced(self, script, keys: list[str], args: list) -> None:
        try:
            script(keys=keys, args=args)
        except self._error as exc:
            if str(exc).startswith("STALE"):
                raise StaleEpochError(f"epoch {args[0]} was superseded: {exc}") from None
            raise

    def bump_epoch(self, key: str) -> int:
        return int(self._redis.incr(self._names(key)[0]))

    def bump_epochs(self, keys: list[str]) -> list[int | Exception]:
        """One round trip for the batch (INCR is atomic per key; no transaction is needed)."""
        pipe = self._redis.pipeline(transaction=False)
        for key in keys:
            pipe.incr(self._names(key)[0])
        return [r if isinstance(r, Exception) else int(r) for r in pipe.execute(raise_on_error=False)]

    def current_epoch(self, key: str) -> int:
        return int(self._redis.get(self._names(key)[0]) or 0)

    def load_manifest(self, key: str) -> bytes | None:
        return self._redis.get(self._names(key)[1])

    def load_chunks(self, key: str, hashes: Iterable[str]) -> dict[str, bytes]:
        wanted = sorted(set(hashes))
        if not wanted:
            return {}
        values = self._redis.hmget(self._names(key)[2], wanted)
        found = {h: v for h, v in zip(wanted, values, strict=True) if v is not None}
        return self.all_found(key, wanted, found)

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

    def put_chunks(self, key: str, chunks: Mapping[str, bytes]) -> None:
        if chunks:
            self._redis.hset(self._names(key)[2], mapping=dict(chunks))

    def history(self, key: str) -> list[int]:
        return sorted(int(seq) for seq in self._redis.hkeys(self._names(key)[4]))

    def load_history(self, key: str, seq: int) -> bytes | None:
        return self._redis.hget(self._names(key)[4], str(seq))

    def chunk_names(self, key: str) -> set[str]:
        return {h.decode() for h in self._redis.hkeys(self._names(key)[2])}

    def has_traces(self, key: str) -> bool:
        """One round trip: in the index of saved agents, or chunks or history stored."""
        names = self._names(key)
        pipe = self._redis.pipeline(transaction=False)
        pipe.sismember(names[3], key)
        pipe.exists(names[2], names[4])
        indexed, stored = pipe.execute()
        return bool(indexed or stored)

    def collect(self, key: str, epoch: int, forget: Collection[int], drop: Collection[str]) -> None:
        self._fenced(self._collect, self._names(key), [epoch, len(forget), *forget, *drop])

    def delete(self, key: str, epoch: int) -> None:
        self._fenced(self._delete, self._names(key), [epoch, key])

    def destroyed(self, key: str) -> bool:
        return bool(self._redis.exists(self._names(key)[5]))

    def set_alarm(self, key: str, due: float | None) -> None:
        if due is None:
            self._redis.zrem(self._prefix + "alarms", key)
        else:
            self._redis.zadd(self._prefix + "alarms", {key: due})

    def due_alarms(self, now: float, limit: int = 100) -> list[tuple[str, float]]:
        rows = self._redis.zrangebyscore(
            self._prefix + "alarms", "-inf", now, start=0, num=limit, withscores=True
        )
        return [(key.decode(), due) for key, due in rows]

    def save_class(self, name: str, blob: bytes) -> None:
        self._redis.hset(self._prefix + "classes", name, blob)

    def load_class(self, name: str) -> bytes | None:
        return self._redis.hget(self._prefix + "classes", name)

    def keys(self) -> list[str]:
        return sorted(k.decode() for k in self._redis.smembers(self._prefix + "index"))

    def close(self) -> None:
        self._redis.close()
