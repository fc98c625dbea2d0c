"""Model announcements in SQLite, for the embedded mode: one row per embedding process."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

from geopin.jobs import StoreUnavailable
from geopin.model.info import ModelInfo
from geopin.outages import OutageTranslation
from geopin.presence import ANNOUNCE_TTL_S, process_name
from geopin.sqlite import Database

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS embedders (process TEXT PRIMARY KEY, entry TEXT, expires_at REAL);"
)
_sqlite_outage = OutageTranslation(sqlite3.OperationalError, StoreUnavailable, "SQLite")


class SqlitePresence:
    def __init__(self, path: Path) -> None:
        self._db = Database(path, _SCHEMA)
        self._field = process_name()

    @_sqlite_outage
    def announce(self, info: ModelInfo) -> None:
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO embedders VALUES (?, ?, ?)",
                (self._field, json.dumps(info.public()), time.time() + ANNOUNCE_TTL_S),
            )

    @_sqlite_outage
    def loaded_models(self) -> list[dict[str, Any]]:
        with self._db.transaction() as conn:
            conn.execute("DELETE FROM embedders WHERE expires_at <= ?", (time.time(),))
            rows = conn.execute("SELECT entry FROM embedders").fetchall()
        return [json.loads(row[0]) for row in rows]
