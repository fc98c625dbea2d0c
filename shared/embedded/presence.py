"""Which models the embedding workers have loaded, announced in SQLite instead of Redis."""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path
from typing import Any

from shared.embedded.sqlite import Database
from shared.model.presence import ANNOUNCE_TTL_S, ModelPresence
from shared.model.session import ModelInfo

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS embedders (process TEXT PRIMARY KEY, entry TEXT, expires_at REAL);"
)


class SqlitePresence(ModelPresence):
    """One row per embedding process, with its expiry; the same announcements as in Redis."""

    def __init__(self, path: Path) -> None:  # the Redis client of the parent is not needed
        self._db = Database(path, _SCHEMA)
        self._field = f"{socket.gethostname()}:{os.getpid()}"

    def announce(self, info: ModelInfo) -> None:
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO embedders VALUES (?, ?, ?)",
                (self._field, json.dumps(info.public()), time.time() + ANNOUNCE_TTL_S),
            )

    def loaded_models(self) -> list[dict[str, Any]]:
        with self._db.transaction() as conn:
            conn.execute("DELETE FROM embedders WHERE expires_at <= ?", (time.time(),))
            rows = conn.execute("SELECT entry FROM embedders").fetchall()
        return [json.loads(row[0]) for row in rows]
