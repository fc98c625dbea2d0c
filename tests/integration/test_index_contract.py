"""What every vector index backend must do, run against the real backends.

Elasticsearch and the embedded index (SQLite and numpy, in a temporary data folder); another
backend joins by adding its name to ``BACKENDS`` and a branch to ``backend``. Vectors are
synthetic unit vectors with known neighbours. Each backend keeps thumbnails with their
references, so its thumbnail store is held to the same contract.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from geopin.geo import BoundingBox, Circle, LatLon
from geopin.index import IndexVersions, ModelMismatch, Reference, VectorIndex
from geopin.thumbnails import ThumbnailStore

from tests.support.stack import delete_indices

BACKENDS = ["elasticsearch", "embedded"]
DIM = 8
MODEL_A, MODEL_B = "a" * 64, "b" * 64
AMSTERDAM, ROTTERDAM = LatLon(52.37, 4.90), LatLon(51.92, 4.48)


@dataclass
class Backend:
    index: VectorIndex  # the live index, behind the alias
    versions: IndexVersions
    thumbnails: ThumbnailStore  # the live version's


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    from geopin.index.elasticsearch import ElasticsearchIndex, make_client
    from geopin.index.elasticsearch_thumbnails import ElasticsearchThumbnails
    from geopin.index.elasticsearch_versions import ElasticsearchVersions
    from geopin.settings import ElasticsearchSettings

    alias = f"geopin-contract-{uuid.uuid4().hex[:8]}"
    if request.param == "embedded":
        from geopin.index.embedded import EmbeddedIndex, EmbeddedThumbnails
        from geopin.index.embedded_schema import index_db
        from geopin.index.embedded_versions import EmbeddedVersions

        db = index_db(tmp_path / "index.db")
        yield Backend(
            EmbeddedIndex(db, alias), EmbeddedVersions(db, alias), EmbeddedThumbnails(db, alias)
        )
        return
    es_server: str = request.getfixturevalue("es_server")
    settings = ElasticsearchSettings(url=es_server, index=alias)
    client = make_client(settings)
    yield Backend(
        ElasticsearchIndex(client, settings),
        ElasticsearchVersions(client, settings),
        ElasticsearchThumbnails(client, settings),
    )
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


def test_written_references_are_known_by_id_before_any_refresh(backend: Backend) -> None:
    backend.index.ensure(DIM, MODEL_A)
    with backend.index.bulk_load():
        backend.index.add([Reference("x/é 1.jpg", AMSTERDAM, QUERY, photo="p1")], MODEL_A)
        assert backend.index.photos(["x/é 1.jpg", "y"]) == {"x/é 1.jpg": "p1"}
    assert backend.index.count() == 1  # searchable once the load ended


def _photo(name: str, vector: np.ndarray) -> Reference:
    """Photo ``name`` as reference "x", with a thumbnail of its own."""
    return Reference("x", AMSTERDAM, vector, photo=name, thumbnail=f"jpeg of {name}".encode())


def test_replacing_an_id_swaps_its_vector_photo_and_thumbnail(backend: Backend) -> None:
    _fill(backend.index)
    old, new = unit(1.0), unit(0.0, 1.0)
    with backend.index.bulk_load():
        assert backend.index.add([_photo("p1", old)], MODEL_A) == set()
    assert backend.thumbnails.get("x") == b"jpeg of p1"
    with backend.index.bulk_load():
        assert backend.index.add([_photo("p2", new)], MODEL_A, replace=True) == set()
    assert backend.index.count() == 5
    assert backend.index.photos(["x"]) == {"x": "p2"}
    assert backend.thumbnails.get("x") == b"jpeg of p2"
    # The old vector is gone: searching for it finds x only through the new one.
    found = {m.id: m.score for m in backend.index.search(old, 5, MODEL_A)}
    assert found["x"] == pytest.approx(0.0, abs=1e-3)


def test_without_replace_a_held_id_is_left_as_it_is_and_named(backend: Backend) -> None:
    backend.index.ensure(DIM, MODEL_A)
    backend.index.add([_photo("p1", unit(1.0))], MODEL_A)
    other = Reference("y", AMSTERDAM, unit(0.0, 1.0), photo="p3")
    assert backend.index.add([_photo("p2", unit(0.0, 1.0)), other], MODEL_A) == {"x"}
    assert backend.index.photos(["x", "y"]) == {"x": "p1", "y": "p3"}
    assert backend.thumbnails.get("x") == b"jpeg of p1"
    assert backend.thumbnails.get("y") is None  # written without one


def _at_once(*writes: Callable[[], set[str]]) -> list[set[str]]:
    """Run the writes in threads released together."""
    start = threading.Barrier(len(writes))

    def run(write: Callable[[], set[str]]) -> set[str]:
        start.wait()
        return write()

    with ThreadPoolExecutor(len(writes)) as pool:
        return list(pool.map(run, writes))


@pytest.mark.parametrize("replace", [False, True])
def test_two_writers_of_one_id_leave_one_reference_whole(backend: Backend, replace: bool) -> None:
    backend.index.ensure(DIM, MODEL_A)
    for attempt in range(5):
        reference_id = f"race-{attempt}"
        writes = [
            Reference(reference_id, AMSTERDAM, unit(1.0), photo=name, thumbnail=name.encode())
            for name in ("p1", "p2")
        ]
        kept = _at_once(
            *(lambda ref=ref: backend.index.add([ref], MODEL_A, replace=replace) for ref in writes)
        )
        (photo,) = backend.index.photos([reference_id]).values()
        assert backend.thumbnails.get(reference_id) == photo.encode()  # one writer's, whole
        if not replace:  # exactly one writer wrote it, and it is the one whose photo is kept
            assert sorted(kept, key=len) == [set(), {reference_id}]
            assert photo == writes[kept.index(set())].photo
    backend.index.refresh()
    assert backend.index.count() == 5


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
    new.add([Reference("new-only", AMSTERDAM, unit(1.0), thumbnail=b"new")], MODEL_B)
    new.refresh()
    assert backend.thumbnails.get("new-only") is None  # the live version's thumbnails only
    # Until the swap, searches use the old version and its model.
    assert backend.index.search(QUERY, 1, MODEL_A)[0].id == "rotterdam-best"
    assert backend.versions.swap(new_name) == old.name
    assert backend.index.search(QUERY, 1, MODEL_B)[0].id == "new-only"
    assert backend.thumbnails.get("new-only") == b"new"
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
