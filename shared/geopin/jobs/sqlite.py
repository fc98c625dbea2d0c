"""Jobs in SQLite: the embedded :class:`~geopin.jobs.JobStore`, with Redis's semantics.

The same documents as :class:`~geopin.jobs.RedisJobStore` (a job as JSON, its upload, its
query vector), each row with the time it expires; expired rows read as missing and are
deleted as new jobs arrive, so an abandoned job still cleans itself up. A transition reads
and writes the job inside one ``BEGIN IMMEDIATE`` transaction: compare-and-set, as Redis's
WATCH/MULTI gives, so a redelivered task never writes a second result. SQLite's operational
errors ("database is locked" past the busy timeout, a file it cannot open) leave as
StoreUnavailable.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from geopin.jobs import Job, JobTransitions, QueryVector, StoreUnavailable, utc_now
from geopin.jobs.model import Moved
from geopin.outages import OutageTranslation
from geopin.settings import JobSettings
from geopin.sqlite import Database

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (job_id TEXT PRIMARY KEY, doc TEXT NOT NULL, expires_at REAL);
CREATE TABLE IF NOT EXISTS uploads (job_id TEXT PRIMARY KEY, data BLOB NOT NULL, expires_at REAL);
CREATE TABLE IF NOT EXISTS vectors (
    job_id TEXT PRIMARY KEY, model_id TEXT NOT NULL, vector BLOB NOT NULL, embed_s REAL NOT NULL,
    embedded_at TEXT NOT NULL, expires_at REAL
);
CREATE TABLE IF NOT EXISTS running (job_id TEXT PRIMARY KEY, since REAL NOT NULL);
CREATE TABLE IF NOT EXISTS job_failures (code TEXT PRIMARY KEY, count INTEGER NOT NULL);
"""
_TABLES = ("jobs", "uploads", "vectors")
_sqlite_outage = OutageTranslation(sqlite3.OperationalError, StoreUnavailable, "SQLite")


class SqliteJobStore(JobTransitions):
    """Job records, uploads and query vectors in one SQLite file, each row with its expiry."""

    def __init__(
        self,
        path: Path,
        settings: JobSettings,
    ) -> None:
        self._db = Database(path, _SCHEMA)
        self._settings = settings

    @_sqlite_outage
    def ping(self) -> None:
        self._db.ping()

    @_sqlite_outage
    def _insert(self, job: Job, upload: bytes) -> None:
        now = time.time()
        with self._db.transaction() as conn:
            for table in _TABLES:  # what Redis would have expired by now
                conn.execute(f"DELETE FROM {table} WHERE expires_at < ?", (now,))  # noqa: S608 -- table names are constants
            conn.execute("DELETE FROM running WHERE job_id NOT IN (SELECT job_id FROM jobs)")
            conn.execute(
                "INSERT INTO uploads VALUES (?, ?, ?)",
                (job.job_id, upload, now + self._settings.upload_ttl_s),
            )
            conn.execute(
                "INSERT INTO jobs VALUES (?, ?, ?)",
                (job.job_id, job.to_json(), now + self._settings.result_ttl_s),
            )

    @_sqlite_outage
    def discard(self, job_id: str) -> None:
        """Forget a job that could not be enqueued, so no one polls a job that never runs."""
        with self._db.transaction() as conn:
            for table in _TABLES:
                conn.execute(f"DELETE FROM {table} WHERE job_id = ?", (job_id,))  # noqa: S608 -- table names are constants

    @_sqlite_outage
    def get(self, job_id: str) -> Job | None:
        row = self._db.conn.execute(
            "SELECT doc FROM jobs WHERE job_id = ? AND expires_at >= ?", (job_id, time.time())
        ).fetchone()
        return Job.from_json(row[0]) if row else None

    @_sqlite_outage
    def _update(self, job_id: str, change: Callable[[Job], bool]) -> tuple[Job | None, bool]:
        with self._db.transaction() as conn:
            row = conn.execute(
                "SELECT doc FROM jobs WHERE job_id = ? AND expires_at >= ?", (job_id, time.time())
            ).fetchone()
            if row is None:
                return None, False
            job = Job.from_json(row[0])
            before = job.status
            changed = change(job)
            if changed:  # the expiry stays as it was (Redis's KEEPTTL)
                conn.execute("UPDATE jobs SET doc = ? WHERE job_id = ?", (job.to_json(), job_id))
                self._keep_aside(conn, Moved.between(before, job), job_id)
        return job, changed

    @staticmethod
    def _keep_aside(conn: sqlite3.Connection, moved: Moved, job_id: str) -> None:
        if moved.started:
            conn.execute("INSERT OR REPLACE INTO running VALUES (?, ?)", (job_id, time.time()))
        if moved.stopped:
            conn.execute("DELETE FROM running WHERE job_id = ?", (job_id,))
        if moved.failure:
            conn.execute(
                "INSERT INTO job_failures VALUES (?, 1) "
                "ON CONFLICT (code) DO UPDATE SET count = count + 1",
                (moved.failure,),
            )

    @_sqlite_outage
    def oldest_running(self) -> float | None:
        row = self._db.conn.execute(
            "SELECT min(since) FROM running JOIN jobs USING (job_id) WHERE expires_at >= ?",
            (time.time(),),
        ).fetchone()
        return float(row[0]) if row[0] is not None else None

    @_sqlite_outage
    def failures(self) -> dict[str, int]:
        return dict(self._db.conn.execute("SELECT code, count FROM job_failures").fetchall())

    @_sqlite_outage
    def load_upload(self, job_id: str) -> bytes | None:
        row = self._db.conn.execute(
            "SELECT data FROM uploads WHERE job_id = ? AND expires_at >= ?", (job_id, time.time())
        ).fetchone()
        return bytes(row[0]) if row else None

    @_sqlite_outage
    def delete_upload(self, job_id: str) -> None:
        with self._db.transaction() as conn:
            conn.execute("DELETE FROM uploads WHERE job_id = ?", (job_id,))

    @_sqlite_outage
    def save_vector(self, job_id: str, query: QueryVector) -> None:
        vector = np.ascontiguousarray(query.vector, dtype="<f4").tobytes()
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO vectors VALUES (?, ?, ?, ?, ?, ?)",
                (
                    job_id,
                    query.model_id,
                    vector,
                    query.embed_s,
                    utc_now(),
                    time.time() + self._settings.result_ttl_s,
                ),
            )

    @_sqlite_outage
    def load_vector(self, job_id: str) -> QueryVector | None:
        row = self._db.conn.execute(
            "SELECT model_id, vector, embed_s, embedded_at FROM vectors "
            "WHERE job_id = ? AND expires_at >= ?",
            (job_id, time.time()),
        ).fetchone()
        if row is None:
            return None
        return QueryVector(
            model_id=row[0],
            vector=np.frombuffer(row[1], dtype="<f4"),
            embed_s=float(row[2]),
            embedded_at=row[3],
        )

    @_sqlite_outage
    def delete_vector(self, job_id: str) -> None:
        with self._db.transaction() as conn:
            conn.execute("DELETE FROM vectors WHERE job_id = ?", (job_id,))
