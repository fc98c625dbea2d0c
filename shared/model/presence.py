"""Which models the embedding workers have loaded, so the gateway can say it is ready.

Each worker process announces its model in Redis with an expiry time it keeps
pushing back; the gateway reads the announcements that have not expired. No worker
means no embedding, so ``/readyz`` reports the model as unusable until one has loaded it.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sqlite3
import threading
import time
from typing import Any

import redis

from shared.model.session import ModelInfo

ANNOUNCE_TTL_S = 90
REFRESH_EVERY_S = 30


class ModelPresence:
    """One Redis hash, field per embedding process, each value carrying its own expiry.

    A hash rather than a key per process: reading it costs the same however many jobs
    Redis holds, which matters for a probe called every few seconds.
    """

    def __init__(self, client: redis.Redis, key_prefix: str) -> None:
        self._redis = client
        self._key = f"{key_prefix}:embedders"
        self._field = f"{socket.gethostname()}:{os.getpid()}"

    def announce(self, info: ModelInfo) -> None:
        entry = {**info.public(), "expires_at": time.time() + ANNOUNCE_TTL_S}
        self._redis.hset(self._key, self._field, json.dumps(entry))

    def keep_announcing(self, info: ModelInfo) -> threading.Event:
        """Refresh the announcement in the background; set the returned event to stop."""
        stop = threading.Event()

        def loop() -> None:
            while not stop.wait(REFRESH_EVERY_S):
                # Store down (Redis, or SQLite when embedded): the entry expires and
                # readiness says so.
                with contextlib.suppress(redis.RedisError, sqlite3.Error):
                    self.announce(info)

        self.announce(info)
        threading.Thread(target=loop, name="model-presence", daemon=True).start()
        return stop

    def loaded_models(self) -> list[dict[str, Any]]:
        """One entry per live embedding process; entries of dead processes are dropped."""
        now = time.time()
        live: list[tuple[bytes, dict[str, Any]]] = []
        stale: list[tuple[bytes, dict[str, Any]]] = []
        for field, raw in self._redis.hgetall(self._key).items():  # type: ignore[union-attr]
            entry = json.loads(raw)
            (live if entry.pop("expires_at", 0) > now else stale).append((field, entry))
        if stale:
            self._redis.hdel(self._key, *(field.decode() for field, _ in stale))
        return [entry for _, entry in live]
