"""The real-photo benchmark's own logic, on a few generated pictures instead of wallpapers."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.support.factories import place_photo
from tests.support.real_photos import STRENGTHS, places, query, recall, reference
from tests.support.wallpapers import PLASMA_PHOTOS, photos


@pytest.fixture
def two_photos(tmp_path: Path) -> list[Path]:
    paths = []
    for seed in (1, 2):
        path = tmp_path / f"photo{seed}.jpg"
        place_photo(seed, (900, 600)).save(path, quality=95)
        paths.append(path)
    return paths


def test_each_tile_of_each_photo_is_a_place_of_its_own(two_photos: list[Path]) -> None:
    tiles = places(two_photos, columns=3, rows=2)
    assert len(tiles) == 12
    assert len({tile.name for tile in tiles}) == 12
    assert tiles[0].box == (0, 0, 512, 512)  # 900x600 resized to 1536x1024, then 3x2
    assert tiles[5].box == (1024, 512, 1536, 1024)


@pytest.mark.parametrize("strength", STRENGTHS)
def test_a_query_is_a_jpeg_of_the_tiles_size_that_differs_from_its_reference(
    two_photos: list[Path], strength: str
) -> None:
    tile = places(two_photos, columns=3, rows=2)[4]
    seen = Image.open(io.BytesIO(query(tile, strength, seed=3)))
    original = Image.open(io.BytesIO(reference(tile)))
    assert (seen.format, seen.size) == ("JPEG", original.size)
    difference = np.abs(np.asarray(seen, np.float32) - np.asarray(original, np.float32))
    assert difference.mean() > 2.0


def test_recall_counts_queries_whose_own_place_is_among_the_nearest() -> None:
    similarity = np.array(
        [
            [0.9, 0.1, 0.0],  # its own place first
            [0.8, 0.7, 0.0],  # its own place second
            [0.9, 0.8, 0.1],  # its own place last
        ]
    )
    assert recall(similarity, at=(1, 2, 3)) == pytest.approx({1: 1 / 3, 2: 2 / 3, 3: 1.0})


def test_the_photographs_are_found_in_the_unpacked_packages(tmp_path: Path) -> None:
    nature = tmp_path / "usr/share/backgrounds/mate/nature"
    nature.mkdir(parents=True)
    (nature / "Dune.jpg").write_bytes(b"jpeg")
    plasma = tmp_path / "usr/share/wallpapers"
    for name in (PLASMA_PHOTOS[0], "Cluster"):  # Cluster is drawn, not photographed
        images = plasma / name / "contents" / "images"
        images.mkdir(parents=True)
        (images / "1920x1080.jpg").write_bytes(b"jpeg")
        (images / "5120x2880.jpg").write_bytes(b"a larger jpeg")
    assert photos(tmp_path) == [
        nature / "Dune.jpg",
        plasma / PLASMA_PHOTOS[0] / "contents" / "images" / "1920x1080.jpg",
    ]
