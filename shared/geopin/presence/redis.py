"""Model announcements in Redis: one hash, a field per embedding process."""

from __future__ import annotations

import json
import time
from typing import Any

import redis

from geopin.jobs import StoreUnavailable
from geopin.model.info import ModelInfo
from geopin.outages import OutageTranslation
from geopin.presence import ANNOUNCE_TTL_S, process_name

_redis_outage = OutageTranslation(redis.RedisError, StoreUnavailable, "Redis")


class RedisPresence:
    """Each field's value carries its own expiry.

    A hash rather than a key per process: reading it costs the same however many jobs Redis
    holds, which matters for a probe called every few seconds.
    """

    def __init__(self, client: redis.Redis, key_prefix: str) -> None:
        self._redis = client
        self._key = f"{key_prefix}:embedders"
        self._field = process_name()

    @_redis_outage
    def announce(self, info: ModelInfo) -> None:
        entry = {**info.public(), "expires_at": time.time() + ANNOUNCE_TTL_S}
        self._redis.hset(self._key, self._field, json.dumps(entry))

    @_redis_outage
    def loaded_models(self) -> list[dict[str, Any]]:
        now = time.time()
        live: list[dict[str, Any]] = []
        stale: list[bytes] = []
        entries = self._redis.hgetall(self._key)
        for field, raw in entries.items():  # type: ignore[union-attr]
            entry = json.loads(raw)
            if entry.pop("expires_at", 0) > now:
                live.append(entry)
            else:
                stale.append(field)
        if stale:
            self._redis.hdel(self._key, *(field.decode() for field in stale))
        return live
