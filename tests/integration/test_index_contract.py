"""What every vector index backend must do, run against the real backends.

Elasticsearch and the embedded index (SQLite and numpy, in a temporary data folder); another
backend joins by adding its name to ``BACKENDS`` and a branch to ``backend``. Vectors are
synthetic unit vectors with known neighbours.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from geopin.geo import BoundingBox, Circle, LatLon
from geopin.index import IndexVersions, ModelMismatch, Reference, VectorIndex

from tests.support.stack import delete_indices

BACKENDS = ["elasticsearch", "embedded"]
DIM = 8
MODEL_A, MODEL_B = "a" * 64, "b" * 64
AMSTERDAM, ROTTERDAM = LatLon(52.37, 4.90), LatLon(51.92, 4.48)


@dataclass
class Backend:
    index: VectorIndex  # the live index, behind the alias
    versions: IndexVersions


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    from geopin.index.elasticsearch import ElasticsearchIndex, make_client
    from geopin.index.elasticsearch_versions import ElasticsearchVersions
    from geopin.settings import ElasticsearchSettings

    alias = f"geopin-contract-{uuid.uuid4().hex[:8]}"
    if request.param == "embedded":
        from geopin.index.embedded import SCHEMA, EmbeddedIndex
        from geopin.index.embedded_versions import EmbeddedVersions
        from geopin.sqlite import Database

        db = Database(tmp_path / "index.db", SCHEMA)
        yield Backend(EmbeddedIndex(db, alias), EmbeddedVersions(db, alias))
        return
    es_server: str = request.getfixturevalue("es_server")
    settings = ElasticsearchSettings(url=es_server, index=alias)
    client = make_client(settings)
    yield Backend(ElasticsearchIndex(client, settings), ElasticsearchVersions(client, settings))
    delete_indices(es_server, settings.index)


def unit(*values: float) -> np.ndarray:
    vector = np.zeros(DIM, dtype=np.float32)
    vector[: len(values)] = values
    return vector / np.linalg.norm(vector)


QUERY = unit(1.0)


def _fill(index: VectorIndex, model_id: str = MODEL_A) -> None:
    """The best match is in Rotterdam; Amsterdam holds the next ones."""
    index.ensure(DIM, model_id)
    refs = [
        Reference("rotterdam-best", ROTTERDAM, unit(1.0, 0.05)),
        Reference("amsterdam-1", AMSTERDAM, unit(1.0, 0.3)),
        Reference("amsterdam-2", LatLon(52.371, 4.901), unit(1.0, 0.6)),
        Reference("amsterdam-far-east", LatLon(52.37, 5.10), unit(1.0, 0.2)),
    ]
    index.add(refs, model_id)
    index.refresh()


def test_a_bounding_box_filters_inside_the_knn_search(backend: Backend) -> None:
    _fill(backend.index)
    area = BoundingBox(south=52.3, west=4.8, north=52.4, east=5.0)
    matches = backend.index.search(QUERY, 3, MODEL_A, geo=area)
    assert [m.id for m in matches] == ["amsterdam-1", "amsterdam-2"]  # k=3, only 2 inside


def test_a_circle_filters_inside_the_knn_search(backend: Backend) -> None:
    _fill(backend.index)
    matches = backend.index.search(QUERY, 2, MODEL_A, geo=Circle(AMSTERDAM, 500))
    assert [m.id for m in matches] == ["amsterdam-1", "amsterdam-2"]
    everywhere = backend.index.search(QUERY, 2, MODEL_A)
    assert [m.id for m in everywhere] == ["rotterdam-best", "amsterdam-far-east"]


def test_written_documents_are_known_before_any_refresh(backend: Backend) -> None:
    backend.index.ensure(DIM, MODEL_A)
    with backend.index.bulk_load():
        backend.index.add([Reference("x", AMSTERDAM, QUERY, key="k1")], MODEL_A)
        assert backend.index.contains(["k1", "k2"]) == {"k1"}
    assert backend.index.count() == 1  # searchable once the load ended


def test_a_bulk_load_hides_writes_until_it_ends_then_restores_refresh(backend: Backend) -> None:
    _fill(backend.index)
    with backend.index.bulk_load(force_merge=True):
        backend.index.add([Reference("late", AMSTERDAM, QUERY)], MODEL_A)
        assert backend.index.count() == 4
    assert backend.index.count() == 5
    backend.index.add([Reference("after", AMSTERDAM, unit(0.0, 1.0))], MODEL_A)
    # The refresh interval is back to its default (1 s): a plain write becomes visible.
    deadline = time.monotonic() + 10
    while backend.index.count() < 6 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert backend.index.count() == 6


def test_rebuild_swaps_the_alias_atomically_while_searches_keep_working(backend: Backend) -> None:
    _fill(backend.index, MODEL_A)
    (old,) = backend.versions.versions()
    assert old.live
    new_name = backend.versions.create(DIM, MODEL_B)
    new = backend.versions.open(new_name)
    new.ensure(DIM, MODEL_B)
    new.add([Reference("new-only", AMSTERDAM, unit(1.0))], MODEL_B)
    new.refresh()
    # Until the swap, searches use the old version and its model.
    assert backend.index.search(QUERY, 1, MODEL_A)[0].id == "rotterdam-best"
    assert backend.versions.swap(new_name) == old.name
    assert backend.index.search(QUERY, 1, MODEL_B)[0].id == "new-only"
    with pytest.raises(ModelMismatch):
        backend.index.search(QUERY, 1, MODEL_A)
    listed = backend.versions.versions()
    assert [(v.name, v.live, v.count) for v in listed] == [
        (old.name, False, 4),
        (new_name, True, 1),
    ]
    assert [v.model_id for v in listed] == [MODEL_A, MODEL_B]


def test_prune_deletes_only_versions_the_alias_does_not_use(backend: Backend) -> None:
    _fill(backend.index)
    spare = backend.versions.create(DIM, MODEL_A)
    (live,) = [v.name for v in backend.versions.versions() if v.live]
    assert backend.versions.prune() == [spare]
    assert [v.name for v in backend.versions.versions()] == [live]
    assert backend.versions.prune() == []


def test_versions_are_numbered_after_every_earlier_one(backend: Backend) -> None:
    backend.index.ensure(DIM, MODEL_A)
    first = backend.versions.create(DIM, MODEL_B)
    second = backend.versions.create(DIM, MODEL_A)
    names = [v.name for v in backend.versions.versions()]
    assert names[1:] == [first, second]
    assert [name.rsplit("-", 1)[1] for name in names] == ["1", "2", "3"]
