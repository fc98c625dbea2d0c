"""An index written before reference IDs were keys, as the previous release left it.

Its versions may hold an ID twice (documents were keyed by photo), so they keep serving
searches but take no more photos; a rebuild makes a version keyed by ID. Each backend's old
layout is written here by hand, as that release wrote it.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from geopin.index import IndexOutdated, IndexVersions, VectorIndex
from geopin.thumbnails import ThumbnailStore

from tests.support.stack import delete_indices

MODEL = "a" * 64
VECTOR = [1.0, 0.0]
# Two photos of one place under one ID: what an old version may hold.
OLD_REFS = [("photo-key-1", "place"), ("photo-key-2", "place")]

# The embedded index file's tables before IDs were keys.
OLD_EMBEDDED_SCHEMA = """
CREATE TABLE versions (
    name TEXT PRIMARY KEY, alias TEXT NOT NULL, number INTEGER NOT NULL, model_id TEXT NOT NULL,
    dim INTEGER NOT NULL, created_at TEXT NOT NULL, generation INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE aliases (alias TEXT PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE refs (
    version TEXT NOT NULL, key TEXT NOT NULL, id TEXT NOT NULL, lat REAL NOT NULL,
    lon REAL NOT NULL, vector BLOB NOT NULL, extra TEXT, searchable INTEGER NOT NULL,
    PRIMARY KEY (version, key)
);
"""


@dataclass
class Old:
    index: VectorIndex
    versions: IndexVersions
    thumbnails: ThumbnailStore


def _old_embedded(folder: Path, alias: str) -> Old:
    from geopin.index.embedded import EmbeddedIndex, EmbeddedThumbnails
    from geopin.index.embedded_schema import index_db
    from geopin.index.embedded_versions import EmbeddedVersions

    path, version = folder / "index.db", f"{alias}-{MODEL[:12]}-1"
    with sqlite3.connect(path) as conn:
        conn.executescript(OLD_EMBEDDED_SCHEMA)
        conn.execute(
            "INSERT INTO versions VALUES (?, ?, 1, ?, 2, '2026-01-01T00:00:00+00:00', 1)",
            (version, alias, MODEL),
        )
        conn.execute("INSERT INTO aliases VALUES (?, ?)", (alias, version))
        vector = np.array(VECTOR, dtype="<f4").tobytes()
        conn.executemany(
            "INSERT INTO refs VALUES (?, ?, ?, 52.37, 4.9, ?, '{}', 1)",
            [(version, key, reference_id, vector) for key, reference_id in OLD_REFS],
        )
    db = index_db(path)
    return Old(EmbeddedIndex(db, alias), EmbeddedVersions(db, alias), EmbeddedThumbnails(db, alias))


def _old_elasticsearch(url: str, alias: str) -> Old:
    from geopin.index.elasticsearch import ElasticsearchIndex, make_client
    from geopin.index.elasticsearch_thumbnails import ElasticsearchThumbnails
    from geopin.index.elasticsearch_versions import ElasticsearchVersions
    from geopin.settings import ElasticsearchSettings

    settings = ElasticsearchSettings(url=url, index=alias)
    client = make_client(settings)
    properties = {
        "id": {"type": "keyword"},
        "location": {"type": "geo_point"},
        "model_id": {"type": "keyword"},
        "embedding": {"type": "dense_vector", "dims": 2, "similarity": "dot_product"},
    }
    client.indices.create(
        index=f"{alias}-{MODEL[:12]}-1",
        mappings={"_meta": {"model_id": MODEL, "dim": 2}, "properties": properties},
        aliases={alias: {"is_write_index": True}},
    )
    for key, reference_id in OLD_REFS:
        source = {"id": reference_id, "location": {"lat": 52.37, "lon": 4.9}, "embedding": VECTOR}
        client.index(index=alias, id=key, document=source, refresh=True)
    return Old(
        ElasticsearchIndex(client, settings),
        ElasticsearchVersions(client, settings),
        ElasticsearchThumbnails(client, settings),
    )


@pytest.fixture(params=["elasticsearch", "embedded"])
def old(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Old]:
    alias = f"geopin-upgrade-{uuid.uuid4().hex[:8]}"
    if request.param == "embedded":
        yield _old_embedded(tmp_path, alias)
        return
    es_server: str = request.getfixturevalue("es_server")
    yield _old_elasticsearch(es_server, alias)
    delete_indices(es_server, alias)


def test_an_old_version_keeps_serving_searches_but_takes_no_more_photos(old: Old) -> None:
    matches = old.index.search(np.array(VECTOR, dtype=np.float32), 5, MODEL)
    assert [m.id for m in matches] == ["place", "place"]
    assert old.thumbnails.get("place") is None  # they were in a local folder then
    with pytest.raises(IndexOutdated, match="geopin index rebuild"):
        old.index.ensure(2, MODEL)


def test_a_rebuilt_version_is_keyed_by_id(old: Old) -> None:
    name = old.versions.create(2, MODEL)
    new = old.versions.open(name)
    new.ensure(2, MODEL)
    assert new.add([], MODEL) == set()
    old.versions.swap(name)
    old.index.ensure(2, MODEL)  # the live version now takes photos
