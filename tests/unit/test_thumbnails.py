"""Reference thumbnails: bounded JPEGs made at ingestion, kept with their reference in the
index, served by the gateway with a validator that changes when the reference is replaced."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from geopin.geo import LatLon
from geopin.index import Reference
from geopin.index.embedded import EmbeddedIndex
from geopin.index.embedded_schema import index_db
from geopin.ingest.outcomes import Outcome
from geopin.ingest.run import Ingestion
from geopin.ingest.sources import Candidate
from geopin.settings import Mode, Settings
from geopin.thumbnails import thumbnail_jpeg
from geopin_gateway.app import create_app
from PIL import Image, ImageFilter

from tests.support.factories import encode, place_photo
from tests.unit.ingest.fakes import MemoryIndex, PixelEmbedder

MODEL = "m" * 64


@pytest.mark.parametrize("size", [(4000, 3000), (600, 2400), (200, 100)])
def test_thumbnail_fits_the_longest_side_and_is_never_enlarged(size: tuple[int, int]) -> None:
    thumbnail = Image.open(io.BytesIO(thumbnail_jpeg(Image.new("RGBA", size), 256)))
    assert thumbnail.format == "JPEG"
    assert max(thumbnail.size) == min(256, max(size))


def _ingest(tmp_path: Path, settings: Settings) -> tuple[MemoryIndex, list[Outcome]]:
    photos = {"sharp": place_photo(1), "blurred": place_photo(2).filter(ImageFilter.BoxBlur(8))}
    candidates = []
    for name, image in photos.items():
        (tmp_path / name).write_bytes(encode(image))
        candidates.append(Candidate(tmp_path / name, name, name, LatLon(52.37, 4.90)))
    outcomes: list[Outcome] = []
    index = MemoryIndex()
    Ingestion(settings, PixelEmbedder(), index, "m", outcomes.append).run(candidates)
    return index, outcomes


def test_each_indexed_reference_carries_the_thumbnail_of_its_photo(tmp_path: Path) -> None:
    index, outcomes = _ingest(tmp_path, Settings())
    assert [o.status for o in outcomes] == ["blurred", "indexed"]
    assert list(index.docs) == ["sharp"]
    jpeg = index.docs["sharp"].thumbnail
    assert jpeg is not None
    assert max(Image.open(io.BytesIO(jpeg)).size) == 256


def test_with_thumbnails_off_references_carry_none(tmp_path: Path) -> None:
    index, _ = _ingest(tmp_path, Settings(thumbnails={"enabled": False}))
    assert index.docs["sharp"].thumbnail is None


def _embedded(tmp_path: Path) -> tuple[Settings, EmbeddedIndex]:
    settings = Settings(mode=Mode.EMBEDDED, data_dir=tmp_path)
    index = EmbeddedIndex(index_db(tmp_path / "index.db"), settings.elasticsearch.index)
    index.ensure(2, MODEL)
    return settings, index


def _reference(jpeg: bytes, photo: str) -> Reference:
    vector = np.array([1.0, 0.0], dtype=np.float32)
    return Reference("place-1", LatLon(52.37, 4.9), vector, photo=photo, thumbnail=jpeg)


def test_gateway_serves_a_thumbnail_or_a_404_problem(tmp_path: Path) -> None:
    settings, index = _embedded(tmp_path)
    index.add([_reference(b"\xff\xd8jpeg", "p1")], MODEL)
    client = create_app(settings).test_client()
    found = client.get("/v1/references/place-1/thumbnail")
    assert found.status_code == 200
    assert (found.mimetype, found.data) == ("image/jpeg", b"\xff\xd8jpeg")
    missing = client.get("/v1/references/place-2/thumbnail")
    assert missing.status_code == 404
    assert missing.mimetype == "application/problem+json"
    assert missing.get_json()["code"] == "thumbnail-not-found"


def test_a_cached_thumbnail_is_revalidated_and_changes_with_its_reference(
    tmp_path: Path,
) -> None:
    settings, index = _embedded(tmp_path)
    index.add([_reference(b"\xff\xd8first", "p1")], MODEL)
    client = create_app(settings).test_client()
    first = client.get("/v1/references/place-1/thumbnail")
    assert "no-cache" in first.headers["Cache-Control"]
    etag = first.headers["ETag"]
    unchanged = client.get("/v1/references/place-1/thumbnail", headers={"If-None-Match": etag})
    assert (unchanged.status_code, unchanged.data) == (304, b"")
    index.add([_reference(b"\xff\xd8second", "p2")], MODEL, replace=True)
    changed = client.get("/v1/references/place-1/thumbnail", headers={"If-None-Match": etag})
    assert (changed.status_code, changed.data) == (200, b"\xff\xd8second")
    assert changed.headers["ETag"] != etag
