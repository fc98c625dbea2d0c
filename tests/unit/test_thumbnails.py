"""Reference thumbnails: bounded JPEGs written at ingestion, served by the gateway."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from geopin.geo import LatLon
from geopin.ingest.run import Ingestion, Outcome
from geopin.ingest.sources import Candidate
from geopin.settings import Settings
from geopin.thumbnails import FolderThumbnails, thumbnail_jpeg
from geopin_gateway.app import create_app
from PIL import Image, ImageFilter

from tests.support.factories import encode, place_photo
from tests.unit.ingest.fakes import MemoryIndex, PixelEmbedder


@pytest.mark.parametrize("size", [(4000, 3000), (600, 2400), (200, 100)])
def test_thumbnail_fits_the_longest_side_and_is_never_enlarged(size: tuple[int, int]) -> None:
    thumbnail = Image.open(io.BytesIO(thumbnail_jpeg(Image.new("RGBA", size), 256)))
    assert thumbnail.format == "JPEG"
    assert max(thumbnail.size) == min(256, max(size))


@pytest.mark.parametrize("reference_id", ["place-007", "../../etc/passwd", "a/b c/é.jpg"])
def test_folder_store_keeps_any_id_inside_its_folder(tmp_path: Path, reference_id: str) -> None:
    store = FolderThumbnails(tmp_path / "thumbs")
    assert store.get(reference_id) is None
    store.put(reference_id, b"jpeg")
    assert store.get(reference_id) == b"jpeg"
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert [p.parent.parent for p in written] == [tmp_path / "thumbs"]


def test_ingestion_writes_a_thumbnail_of_each_photo_that_passes_its_checks(
    tmp_path: Path,
) -> None:
    photos = {"sharp": place_photo(1), "blurred": place_photo(2).filter(ImageFilter.BoxBlur(8))}
    candidates = []
    for name, image in photos.items():
        (tmp_path / name).write_bytes(encode(image))
        candidates.append(Candidate(tmp_path / name, name, name, LatLon(52.37, 4.90)))
    outcomes: list[Outcome] = []
    store = FolderThumbnails(tmp_path / "thumbs")
    Ingestion(Settings(), PixelEmbedder(), MemoryIndex(), "m", outcomes.append, store).run(
        candidates
    )
    assert [o.status for o in outcomes] == ["blurred", "indexed"]
    jpeg = store.get("sharp")
    assert jpeg is not None
    assert max(Image.open(io.BytesIO(jpeg)).size) == 256
    assert store.get("blurred") is None


def test_gateway_serves_a_thumbnail_or_a_404_problem(tmp_path: Path) -> None:
    FolderThumbnails(tmp_path).put("place-1", b"\xff\xd8jpeg")
    client = create_app(Settings(thumbnails={"dir": tmp_path})).test_client()
    found = client.get("/v1/references/place-1/thumbnail")
    assert found.status_code == 200
    assert (found.mimetype, found.data) == ("image/jpeg", b"\xff\xd8jpeg")
    missing = client.get("/v1/references/place-2/thumbnail")
    assert missing.status_code == 404
    assert missing.mimetype == "application/problem+json"
    assert missing.get_json()["code"] == "thumbnail-not-found"
