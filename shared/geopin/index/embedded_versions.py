"""Index lifecycle in the embedded index: versions behind one alias, swapped atomically.

The same lifecycle as :mod:`geopin.index.elasticsearch_versions` (build beside the live
version, swap, prune on purpose); the alias is one row, so the swap is one transaction.
"""

from __future__ import annotations

import logging

from geopin.index import IndexVersion
from geopin.index.embedded import EmbeddedIndex, sqlite_outage
from geopin.index.embedded_schema import create_version, live_version
from geopin.sqlite import Database

log = logging.getLogger(__name__)


class EmbeddedVersions:
    def __init__(self, db: Database, alias: str) -> None:
        self._db = db
        self.alias = alias

    @sqlite_outage
    def versions(self) -> list[IndexVersion]:
        conn = self._db.conn
        live = live_version(conn, self.alias)
        rows = conn.execute(
            "SELECT v.name, v.model_id, v.dim, v.created_at, "
            "(SELECT count(*) FROM refs r WHERE r.version = v.name AND r.searchable = 1) "
            "FROM versions v WHERE v.alias = ? ORDER BY v.number",
            (self.alias,),
        ).fetchall()
        return [
            IndexVersion(
                name=name,
                model_id=model_id,
                dim=dim,
                count=count,
                live=name == live,
                created_at=created_at,
            )
            for name, model_id, dim, created_at, count in rows
        ]

    @sqlite_outage
    def create(self, dim: int, model_id: str) -> str:
        return create_version(self._db, self.alias, dim, model_id, live=False)

    def open(self, name: str) -> EmbeddedIndex:
        return EmbeddedIndex(self._db, self.alias, target=name)

    @sqlite_outage
    def swap(self, name: str) -> str | None:
        with self._db.transaction() as conn:
            previous = live_version(conn, self.alias)
            conn.execute("INSERT OR REPLACE INTO aliases VALUES (?, ?)", (self.alias, name))
        log.info("alias %s now points at %s (was %s)", self.alias, name, previous)
        return previous

    @sqlite_outage
    def prune(self) -> list[str]:
        with self._db.transaction() as conn:
            live = live_version(conn, self.alias)
            doomed = [
                str(row[0])
                for row in conn.execute(
                    "SELECT name FROM versions WHERE alias = ? AND name IS NOT ? ORDER BY number",
                    (self.alias, live),
                )
            ]
            for name in doomed:
                conn.execute("DELETE FROM refs WHERE version = ?", (name,))
                conn.execute("DELETE FROM thumbnails WHERE version = ?", (name,))
                conn.execute("DELETE FROM versions WHERE name = ?", (name,))
        if doomed:
            log.info("deleted %s", ", ".join(doomed))
        return doomed
