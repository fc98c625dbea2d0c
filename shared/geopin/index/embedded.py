"""The embedded reference index: vectors in SQLite, searched exactly with numpy.

It keeps Elasticsearch's model as :mod:`geopin.index.elasticsearch` uses it, so the same
contract tests pass on both: versions named ``<alias>-<model12>-<n>``, each recording the
model that filled it; an alias naming the live version, moved in one transaction; writes
hidden from searches during a bulk load. Search is exact (one matrix product over the
version's vectors, kept in memory until the version changes): about 60 ms for 100,000
references of D = 512 on one busy core, with no recall lost to an approximate index.
The search area is a mask over the candidates before ranking, so a query gets its k
matches inside the area whatever lies nearer outside it. SQLite's operational errors ("database
is locked" past the busy timeout, a file it cannot open) are reported as IndexUnavailable;
reads go on while another process holds the write lock (WAL).
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from geopin.geo import EARTH_RADIUS_M, BoundingBox, GeoFilter, LatLon
from geopin.index import IndexMissing, IndexUnavailable, Match, ModelMismatch, Reference
from geopin.outages import OutageTranslation
from geopin.sqlite import Database

log = logging.getLogger(__name__)
sqlite_outage = OutageTranslation(sqlite3.OperationalError, IndexUnavailable, "SQLite")

SCHEMA = """
CREATE TABLE IF NOT EXISTS versions (
    name TEXT PRIMARY KEY, alias TEXT NOT NULL, number INTEGER NOT NULL, model_id TEXT NOT NULL,
    dim INTEGER NOT NULL, created_at TEXT NOT NULL, generation INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS aliases (alias TEXT PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS refs (
    version TEXT NOT NULL, key TEXT NOT NULL, id TEXT NOT NULL, lat REAL NOT NULL,
    lon REAL NOT NULL, vector BLOB NOT NULL, extra TEXT, searchable INTEGER NOT NULL,
    PRIMARY KEY (version, key)
);
"""


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
            "INSERT INTO versions (name, alias, number, model_id, dim, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (name, alias, last + 1, model_id, dim, created),
        )
        if live:
            conn.execute("INSERT OR REPLACE INTO aliases VALUES (?, ?)", (alias, name))
    log.info("created index %s%s", name, f" behind alias {alias}" if live else "")
    return name


@dataclass(frozen=True)
class _Loaded:
    """A version's searchable references, as arrays, at one generation."""

    generation: int
    ids: list[str]
    lat: np.ndarray
    lon: np.ndarray
    vectors: np.ndarray  # (n, dim) float32 unit vectors


class EmbeddedIndex:
    """The live version behind ``alias``, or with ``target`` one version by name."""

    def __init__(self, db: Database, alias: str, target: str | None = None) -> None:
        self._db = db
        self.alias = alias
        self.target = target or alias
        self._loading = False
        self._cache: dict[str, _Loaded] = {}

    def _version(self, conn: sqlite3.Connection) -> tuple[str, str, int]:
        """(name, model_id, generation) of the version this index reads and writes."""
        name = self.target if self.target != self.alias else live_version(conn, self.alias)
        row = conn.execute(
            "SELECT name, model_id, generation FROM versions WHERE name = ?", (name,)
        ).fetchone()
        if row is None:
            raise IndexMissing(
                f"no reference index {self.target!r}: add references with `geopin index add`"
            )
        return str(row[0]), str(row[1]), int(row[2])

    def _require_model(self, conn: sqlite3.Connection, model_id: str) -> str:
        name, indexed_by, _ = self._version(conn)
        if indexed_by != model_id:
            raise ModelMismatch(
                f"index {self.target!r} holds vectors of model {indexed_by}, "
                f"but this query was embedded by model {model_id}; "
                "rebuild the index with the current model or configure the model it was built with"
            )
        return name

    @sqlite_outage
    def ensure(self, dim: int, model_id: str) -> None:
        conn = self._db.conn
        if self.target != self.alias or live_version(conn, self.alias) is not None:
            self._require_model(conn, model_id)
            return
        create_version(self._db, self.alias, dim, model_id, live=True)

    @sqlite_outage
    def add(self, references: Iterable[Reference], model_id: str) -> int:
        searchable = 0 if self._loading else 1
        with self._db.transaction() as conn:
            name = self._require_model(conn, model_id)
            rows = [
                (
                    name,
                    ref.storage_key,
                    ref.id,
                    ref.location.lat,
                    ref.location.lon,
                    np.ascontiguousarray(ref.vector, dtype="<f4").tobytes(),
                    json.dumps({"heading": ref.heading, "captured_at": ref.captured_at}),
                    searchable,
                )
                for ref in references
            ]
            conn.executemany("INSERT OR REPLACE INTO refs VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
            if searchable:
                _bump(conn, name)
        return len(rows)

    @sqlite_outage
    def refresh(self) -> None:
        with self._db.transaction() as conn:
            name, _, _ = self._version(conn)
            conn.execute("UPDATE refs SET searchable = 1 WHERE version = ?", (name,))
            _bump(conn, name)

    @sqlite_outage
    def contains(self, keys: Sequence[str]) -> set[str]:
        if not keys:
            return set()
        conn = self._db.conn
        name, _, _ = self._version(conn)
        marks = ",".join("?" * len(keys))
        found = conn.execute(
            f"SELECT key FROM refs WHERE version = ? AND key IN ({marks})",  # noqa: S608 -- only placeholders
            (name, *keys),
        )
        return {str(row[0]) for row in found}

    @contextmanager
    def bulk_load(self, force_merge: bool = False) -> Iterator[None]:
        """Writes stay out of searches until the load ends, as with Elasticsearch's refresh
        turned off; a refresh first makes whatever an earlier, crashed load wrote searchable.
        ``force_merge`` has nothing to merge here."""
        self.refresh()
        self._loading = True
        try:
            yield
        finally:
            self._loading = False
            self.refresh()

    @sqlite_outage
    def search(
        self, vector: np.ndarray, k: int, model_id: str, geo: GeoFilter | None = None
    ) -> list[Match]:
        loaded = self._load(self._require_model(self._db.conn, model_id))
        scores = loaded.vectors @ np.asarray(vector, dtype=np.float32)
        if geo is not None:
            scores = np.where(_inside(geo, loaded.lat, loaded.lon), scores, -np.inf)
        k = min(k, len(scores))
        best = np.argpartition(-scores, k - 1)[:k] if k else np.array([], dtype=int)
        ranked = sorted(best, key=lambda i: (-scores[i], loaded.ids[i]))
        return [
            Match(
                id=loaded.ids[i],
                location=LatLon(float(loaded.lat[i]), float(loaded.lon[i])),
                score=round(float(scores[i]), 6),
            )
            for i in ranked
            if np.isfinite(scores[i])
        ]

    def _load(self, name: str) -> _Loaded:
        conn = self._db.conn
        (generation,) = conn.execute(
            "SELECT generation FROM versions WHERE name = ?", (name,)
        ).fetchone()
        cached = self._cache.get(name)
        if cached is not None and cached.generation == generation:
            return cached
        rows = conn.execute(
            "SELECT id, lat, lon, vector FROM refs WHERE version = ? AND searchable = 1", (name,)
        ).fetchall()
        (dim,) = conn.execute("SELECT dim FROM versions WHERE name = ?", (name,)).fetchone()
        vectors = np.frombuffer(b"".join(r[3] for r in rows), dtype="<f4").reshape(len(rows), dim)
        loaded = _Loaded(
            generation=generation,
            ids=[str(r[0]) for r in rows],
            lat=np.array([r[1] for r in rows], dtype=np.float64),
            lon=np.array([r[2] for r in rows], dtype=np.float64),
            vectors=vectors,
        )
        self._cache = {name: loaded}  # one version at a time: the old one is garbage after a swap
        return loaded

    @sqlite_outage
    def count(self) -> int:
        conn = self._db.conn
        name, _, _ = self._version(conn)
        (n,) = conn.execute(
            "SELECT count(*) FROM refs WHERE version = ? AND searchable = 1", (name,)
        ).fetchone()
        return int(n)

    @sqlite_outage
    def check(self) -> str | None:
        try:
            self._version(self._db.conn)
        except IndexMissing as exc:
            return str(exc)
        return None


def _bump(conn: sqlite3.Connection, name: str) -> None:
    """Tell every process's cache that the version's searchable set changed."""
    conn.execute("UPDATE versions SET generation = generation + 1 WHERE name = ?", (name,))


def _inside(area: GeoFilter, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """A boolean mask of the points inside ``area`` (great-circle distance for a circle)."""
    if isinstance(area, BoundingBox):
        in_lat = (lat >= area.south) & (lat <= area.north)
        if area.west <= area.east:
            return in_lat & (lon >= area.west) & (lon <= area.east)
        return in_lat & ((lon >= area.west) | (lon <= area.east))  # across the antimeridian
    phi1, phi2 = np.radians(area.centre.lat), np.radians(lat)
    dphi, dlmb = phi2 - phi1, np.radians(lon - area.centre.lon)
    h = np.sin(dphi / 2) ** 2 + np.cos(phi1) * np.cos(phi2) * np.sin(dlmb / 2) ** 2
    distance = 2 * EARTH_RADIUS_M * np.arcsin(np.minimum(1.0, np.sqrt(h)))
    mask: np.ndarray = distance <= area.radius_m
    return mask
