"""Liveness records in Redis: a key per worker that expires on its own, a set of the tags each
worker holds, and a hash of fault counts.

Redis expires the keys, so no two hosts' clocks are compared. Burying a worker is one Lua
script: it checks the worker's key is gone and removes the worker from the set of known
workers, so of two workers sweeping at once only one gets the dead worker's tags.
"""

from __future__ import annotations

import redis

from geopin.jobs import StoreUnavailable
from geopin.liveness import FAULTS
from geopin.outages import OutageTranslation

_redis_outage = OutageTranslation(redis.RedisError, StoreUnavailable, "Redis")

# KEYS: the worker's alive key, the set of workers, the worker's held tags. ARGV: the worker.
_BURY = """
if redis.call('EXISTS', KEYS[1]) == 1 then return false end
if redis.call('SREM', KEYS[2], ARGV[1]) == 0 then return false end
local tags = redis.call('SMEMBERS', KEYS[3])
redis.call('DEL', KEYS[3])
return tags
"""


class RedisLiveness:
    def __init__(self, client: redis.Redis, key_prefix: str, presumed_dead_after_s: float) -> None:
        self._redis = client
        self._prefix = key_prefix
        self._workers = f"{key_prefix}:workers"
        self._faults = f"{key_prefix}:faults"
        self._ttl_ms = int(presumed_dead_after_s * 1000)
        self._bury = client.register_script(_BURY)

    def _alive(self, worker: str) -> str:
        return f"{self._prefix}:alive:{worker}"

    def _held(self, worker: str) -> str:
        return f"{self._prefix}:held:{worker}"

    @_redis_outage
    def beat(self, worker: str) -> None:
        with self._redis.pipeline(transaction=True) as pipe:
            pipe.sadd(self._workers, worker)
            pipe.set(self._alive(worker), 1, px=self._ttl_ms)
            pipe.execute()

    @_redis_outage
    def hold(self, worker: str, tag: str) -> None:
        self._redis.sadd(self._held(worker), tag)

    @_redis_outage
    def let_go(self, worker: str, tag: str) -> None:
        self._redis.srem(self._held(worker), tag)

    @_redis_outage
    def dead(self) -> list[str]:
        workers = sorted(w.decode() for w in self._redis.smembers(self._workers))  # type: ignore[union-attr]
        with self._redis.pipeline(transaction=False) as pipe:
            for worker in workers:
                pipe.exists(self._alive(worker))
            alive = pipe.execute()
        return [worker for worker, up in zip(workers, alive, strict=True) if not up]

    @_redis_outage
    def bury(self, worker: str) -> list[str] | None:
        keys = [self._alive(worker), self._workers, self._held(worker)]
        tags = self._bury(keys=keys, args=[worker])
        return None if tags is None else sorted(t.decode() for t in tags)

    @_redis_outage
    def leave(self, worker: str) -> None:
        with self._redis.pipeline(transaction=True) as pipe:
            pipe.srem(self._workers, worker)
            pipe.delete(self._alive(worker), self._held(worker))
            pipe.execute()

    @_redis_outage
    def count(self, fault: str, n: int = 1) -> None:
        self._redis.hincrby(self._faults, fault, n)

    @_redis_outage
    def counts(self) -> dict[str, int]:
        stored = self._redis.hgetall(self._faults)
        found = {k.decode(): int(v) for k, v in stored.items()}  # type: ignore[union-attr]
        return {fault: found.get(fault, 0) for fault in FAULTS}
