"""Which models the embedding workers have loaded, so the gateway can say it is ready.

Each worker process announces its model in Redis under a key that expires unless
refreshed; the gateway only reads. No worker means no embedding, so ``/readyz``
reports the model as unusable until one has loaded it.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
from typing import Any

import redis

from shared.model.session import ModelInfo

ANNOUNCE_TTL_S = 90
REFRESH_EVERY_S = 30


class ModelPresence:
    def __init__(self, client: redis.Redis, key_prefix: str) -> None:
        self._redis = client
        self._pattern = f"{key_prefix}:embedders:*"
        self._key = f"{key_prefix}:embedders:{socket.gethostname()}:{os.getpid()}"

    def announce(self, info: ModelInfo) -> None:
        self._redis.set(self._key, json.dumps(info.public()), ex=ANNOUNCE_TTL_S)

    def keep_announcing(self, info: ModelInfo) -> threading.Event:
        """Refresh the announcement in the background; set the returned event to stop."""
        stop = threading.Event()

        def loop() -> None:
            while not stop.wait(REFRESH_EVERY_S):
                # Redis down: the key expires and readiness says so.
                with contextlib.suppress(redis.RedisError):
                    self.announce(info)

        self.announce(info)
        threading.Thread(target=loop, name="model-presence", daemon=True).start()
        return stop

    def loaded_models(self) -> list[dict[str, Any]]:
        """One entry per live embedding process."""
        keys = list(self._redis.scan_iter(match=self._pattern, count=100))
        values = self._redis.mget(keys) if keys else []
        return [json.loads(v) for v in values if v is not None]  # type: ignore[union-attr]
