"""The embedded index's SQLite file: its tables, their upgrade, and its versions' names.

Each version is a set of rows in ``refs`` (one per reference ID: ``key`` derives from it) and
``thumbnails`` beside them, written in the same transaction, so a reference and its thumbnail
are replaced and pruned together; ``aliases`` names the live version.
"""

from __future__ import annotations

import logging
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from geopin.sqlite import Database

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS versions (
    name TEXT PRIMARY KEY, alias TEXT NOT NULL, number INTEGER NOT NULL, model_id TEXT NOT NULL,
    dim INTEGER NOT NULL, created_at TEXT NOT NULL, generation INTEGER NOT NULL DEFAULT 0,
    keyed_by_id INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS aliases (alias TEXT PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS refs (
    version TEXT NOT NULL, key TEXT NOT NULL, id TEXT NOT NULL, lat REAL NOT NULL,
    lon REAL NOT NULL, vector BLOB NOT NULL, extra TEXT, searchable INTEGER NOT NULL,
    photo TEXT, PRIMARY KEY (version, key)
);
CREATE TABLE IF NOT EXISTS thumbnails (
    version TEXT NOT NULL, key TEXT NOT NULL, jpeg BLOB NOT NULL, PRIMARY KEY (version, key)
);
"""
# Columns added after the first release, to files created before. Versions from then keep
# ``keyed_by_id`` 0: their rows were keyed by photo, so they may hold an ID twice.
ADDED_COLUMNS = (
    ("versions", "keyed_by_id", "INTEGER NOT NULL DEFAULT 0"),
    ("refs", "photo", "TEXT"),
)


def _missing_columns(conn: sqlite3.Connection) -> list[tuple[str, str, str]]:
    def present(table: str) -> set[str]:
        return {str(row[1]) for row in conn.execute(f"PRAGMA table_info({table})")}

    return [added for added in ADDED_COLUMNS if added[1] not in present(added[0])]


def upgrade(conn: sqlite3.Connection) -> None:
    """Add the columns an older file lacks; under the write lock, so that of two processes
    opening it at once the second finds them added."""
    if not _missing_columns(conn):
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        for table, column, declaration in _missing_columns(conn):
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")
            log.info("index file: added %s.%s", table, column)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def index_db(path: Path) -> Database:
    """The index file, upgraded when an older release wrote it."""
    return Database(path, SCHEMA, upgrade)


def live_version(conn: sqlite3.Connection, alias: str) -> str | None:
    row = conn.execute("SELECT name FROM aliases WHERE alias = ?", (alias,)).fetchone()
    return str(row[0]) if row else None


def create_version(db: Database, alias: str, dim: int, model_id: str, *, live: bool) -> str:
    """A new version numbered after every existing one; if ``live``, behind the alias."""
    with db.transaction() as conn:
        (last,) = conn.execute(
            "SELECT coalesce(max(number), 0) FROM versions WHERE alias = ?", (alias,)
        ).fetchone()
        name = f"{alias}-{model_id[:12]}-{last + 1}"
        created = datetime.now(UTC).isoformat(timespec="seconds")
        conn.execute(
            "INSERT INTO versions (name, alias, number, model_id, dim, created_at, keyed_by_id) "
            "VALUES (?, ?, ?, ?, ?, ?, 1)",
            (name, alias, last + 1, model_id, dim, created),
        )
        if live:
            conn.execute("INSERT OR REPLACE INTO aliases VALUES (?, ?)", (alias, name))
    log.info("created index %s%s", name, f" behind alias {alias}" if live else "")
    return name
