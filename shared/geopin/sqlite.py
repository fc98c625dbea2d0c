"""SQLite as the embedded backends use it: one file per backend, shared by processes.

WAL lets readers go on while one process writes (the gateway polls jobs while workers
update them); ``BEGIN IMMEDIATE`` takes the write lock up front, so a read-then-write is
atomic across processes, which is how the compare-and-set of a job transition works here.
A writer waits for another's lock at most ``BUSY_TIMEOUT_S``, then fails with "database is
locked", which the adapters report as their backend being unavailable (a 503 at the gateway).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

# Far beyond any one transaction here (milliseconds), and short enough that a request behind a
# stuck lock gets its 503 before a client or gunicorn gives up on it.
BUSY_TIMEOUT_S = 2.0


class Database:
    """One connection per thread (Celery runs tasks in threads), all on the same file."""

    def __init__(
        self,
        path: Path,
        schema: str,
        upgrade: Callable[[sqlite3.Connection], None] | None = None,
    ) -> None:
        self.path = path
        self._schema = schema
        self._upgrade = upgrade  # brings a file written by an older release up to the schema
        self._local = threading.local()  # nothing is opened until first use: no I/O in factories

    @property
    def conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            # Autocommit: every transaction is opened explicitly by transaction().
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")  # durable at checkpoints; WAL stays intact
            conn.executescript(self._schema)  # CREATE ... IF NOT EXISTS: any process may run it
            if self._upgrade is not None:
                self._upgrade(conn)
            self._local.conn = conn
        return conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction holding the database's write lock from its first statement."""
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def ping(self) -> None:
        """Take the write lock and let it go: under WAL a read goes on while another holds
        the lock, so only this shows that writes would wait (and fail) now."""
        with self.transaction():
            pass
