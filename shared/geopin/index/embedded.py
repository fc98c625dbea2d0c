"""The embedded reference index: vectors in SQLite, searched exactly with numpy.

It keeps Elasticsearch's model as :mod:`geopin.index.elasticsearch` uses it, so the same
contract tests pass on both: versions named ``<alias>-<model12>-<n>``, each recording the
model that filled it; an alias naming the live version, moved in one transaction; writes
hidden from searches during a bulk load; one reference per ID, its thumbnail beside it
(:mod:`geopin.index.embedded_schema`). Search is exact (one matrix product over the
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

import numpy as np

from geopin.geo import EARTH_RADIUS_M, BoundingBox, GeoFilter, LatLon
from geopin.index import (
    IndexMissing,
    IndexOutdated,
    IndexUnavailable,
    Match,
    ModelMismatch,
    Reference,
    reference_key,
)
from geopin.index.embedded_schema import create_version, live_version
from geopin.outages import OutageTranslation
from geopin.sqlite import Database

log = logging.getLogger(__name__)
sqlite_outage = OutageTranslation(sqlite3.OperationalError, IndexUnavailable, "SQLite")


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

    def _version(self, conn: sqlite3.Connection) -> tuple[str, str, bool]:
        """(name, model_id, keyed by ID) of the version this index reads and writes."""
        name = self.target if self.target != self.alias else live_version(conn, self.alias)
        row = conn.execute(
            "SELECT name, model_id, keyed_by_id FROM versions WHERE name = ?", (name,)
        ).fetchone()
        if row is None:
            raise IndexMissing(
                f"no reference index {self.target!r}: add references with `geopin index add`"
            )
        return str(row[0]), str(row[1]), bool(row[2])

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
            if not self._version(conn)[2]:
                raise IndexOutdated(self.target)
            return
        create_version(self._db, self.alias, dim, model_id, live=True)

    @sqlite_outage
    def add(
        self, references: Iterable[Reference], model_id: str, *, replace: bool = False
    ) -> set[str]:
        searchable = 0 if self._loading else 1
        batch = {ref.storage_key: ref for ref in references}
        with self._db.transaction() as conn:  # the write lock: nobody adds between check and write
            name = self._require_model(conn, model_id)
            held = set() if replace else self._held(conn, name, list(batch))
            written = [ref for key, ref in batch.items() if key not in held]
            conn.executemany(
                "INSERT OR REPLACE INTO refs (version, key, id, lat, lon, vector, extra, "
                "searchable, photo) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [_row(name, ref, searchable) for ref in written],
            )
            conn.executemany(  # a replaced reference's picture goes, even if none replaces it
                "DELETE FROM thumbnails WHERE version = ? AND key = ?",
                [(name, ref.storage_key) for ref in written],
            )
            conn.executemany(
                "INSERT INTO thumbnails VALUES (?, ?, ?)",
                [(name, ref.storage_key, ref.thumbnail) for ref in written if ref.thumbnail],
            )
            if searchable:
                _bump(conn, name)
        return {batch[key].id for key in held}

    @sqlite_outage
    def refresh(self) -> None:
        with self._db.transaction() as conn:
            name, _, _ = self._version(conn)
            conn.execute("UPDATE refs SET searchable = 1 WHERE version = ?", (name,))
            _bump(conn, name)

    @sqlite_outage
    def photos(self, ids: Sequence[str]) -> dict[str, str | None]:
        conn = self._db.conn
        name, _, _ = self._version(conn)
        by_key = {reference_key(reference_id): reference_id for reference_id in ids}
        rows = _select_keys(conn, "key, photo", name, list(by_key))
        return {by_key[str(key)]: None if photo is None else str(photo) for key, photo in rows}

    def _held(self, conn: sqlite3.Connection, name: str, keys: list[str]) -> set[str]:
        return {str(key) for (key,) in _select_keys(conn, "key", name, keys)}

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


def _row(name: str, ref: Reference, searchable: int) -> tuple[object, ...]:
    return (
        name,
        ref.storage_key,
        ref.id,
        ref.location.lat,
        ref.location.lon,
        np.ascontiguousarray(ref.vector, dtype="<f4").tobytes(),
        json.dumps({"heading": ref.heading, "captured_at": ref.captured_at}),
        searchable,
        ref.photo,
    )


def _select_keys(
    conn: sqlite3.Connection, columns: str, version: str, keys: list[str]
) -> list[tuple[object, ...]]:
    """``columns`` of the version's rows whose key is among ``keys``."""
    if not keys:
        return []
    marks = ",".join("?" * len(keys))
    return conn.execute(
        f"SELECT {columns} FROM refs WHERE version = ? AND key IN ({marks})",  # noqa: S608 -- our columns, placeholders
        (version, *keys),
    ).fetchall()


class EmbeddedThumbnails:
    """The gateway's thumbnails in the embedded index: those of the live version."""

    def __init__(self, db: Database, alias: str) -> None:
        self._db = db
        self._alias = alias

    @sqlite_outage
    def get(self, reference_id: str) -> bytes | None:
        row = self._db.conn.execute(
            "SELECT t.jpeg FROM aliases a JOIN thumbnails t ON t.version = a.name "
            "WHERE a.alias = ? AND t.key = ?",
            (self._alias, reference_key(reference_id)),
        ).fetchone()
        return bytes(row[0]) if row else None


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
