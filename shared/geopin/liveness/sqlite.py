"""Liveness records in SQLite, for the embedded mode: every process runs on one machine, so
each record carries the time it expires by that machine's clock.

Burying a worker deletes its record only if it has expired, inside one ``BEGIN IMMEDIATE``
transaction, so of two workers sweeping at once only one gets the dead worker's tags.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from geopin.jobs import StoreUnavailable
from geopin.liveness import FAULTS
from geopin.outages import OutageTranslation
from geopin.sqlite import Database

_SCHEMA = """
CREATE TABLE IF NOT EXISTS workers (worker TEXT PRIMARY KEY, alive_until REAL NOT NULL);
CREATE TABLE IF NOT EXISTS held (
    worker TEXT NOT NULL, tag TEXT NOT NULL, PRIMARY KEY (worker, tag)
);
CREATE TABLE IF NOT EXISTS faults (name TEXT PRIMARY KEY, count INTEGER NOT NULL);
"""
_sqlite_outage = OutageTranslation(sqlite3.OperationalError, StoreUnavailable, "SQLite")


class SqliteLiveness:
    def __init__(self, path: Path, presumed_dead_after_s: float) -> None:
        self._db = Database(path, _SCHEMA)
        self._ttl_s = presumed_dead_after_s

    @_sqlite_outage
    def beat(self, worker: str) -> None:
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO workers VALUES (?, ?)", (worker, time.time() + self._ttl_s)
            )

    @_sqlite_outage
    def hold(self, worker: str, tag: str) -> None:
        with self._db.transaction() as conn:
            conn.execute("INSERT OR IGNORE INTO held VALUES (?, ?)", (worker, tag))

    @_sqlite_outage
    def let_go(self, worker: str, tag: str) -> None:
        with self._db.transaction() as conn:
            conn.execute("DELETE FROM held WHERE worker = ? AND tag = ?", (worker, tag))

    @_sqlite_outage
    def dead(self) -> list[str]:
        rows = self._db.conn.execute(
            "SELECT worker FROM workers WHERE alive_until < ? ORDER BY worker", (time.time(),)
        ).fetchall()
        return [row[0] for row in rows]

    @_sqlite_outage
    def bury(self, worker: str) -> list[str] | None:
        with self._db.transaction() as conn:
            buried = conn.execute(
                "DELETE FROM workers WHERE worker = ? AND alive_until < ?", (worker, time.time())
            ).rowcount
            if not buried:
                return None
            rows = conn.execute(
                "SELECT tag FROM held WHERE worker = ? ORDER BY tag", (worker,)
            ).fetchall()
            conn.execute("DELETE FROM held WHERE worker = ?", (worker,))
        return [row[0] for row in rows]

    @_sqlite_outage
    def leave(self, worker: str) -> None:
        with self._db.transaction() as conn:
            conn.execute("DELETE FROM workers WHERE worker = ?", (worker,))
            conn.execute("DELETE FROM held WHERE worker = ?", (worker,))

    @_sqlite_outage
    def count(self, fault: str, n: int = 1) -> None:
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT INTO faults VALUES (?, ?) "
                "ON CONFLICT (name) DO UPDATE SET count = count + excluded.count",
                (fault, n),
            )

    @_sqlite_outage
    def counts(self) -> dict[str, int]:
        found = dict(self._db.conn.execute("SELECT name, count FROM faults").fetchall())
        return {fault: int(found.get(fault, 0)) for fault in FAULTS}
