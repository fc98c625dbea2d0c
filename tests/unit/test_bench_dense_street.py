"""The dense street benchmark's own logic, on generated pictures instead of wallpapers."""

from __future__ import annotations

import io

import numpy as np
import pytest
from geopin.geo import haversine_m
from PIL import Image

from tests.support.factories import place_photo
from tests.support.streets import (
    PITCHES,
    SPACING_M,
    SPARSE_EVERY,
    STREET_GAP_M,
    VIEW_SIZE,
    World,
    build,
    place,
    query_photo,
    reference_photo,
)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    folder = tmp_path_factory.mktemp("streets")
    paths = []
    for seed in (1, 2):
        path = folder / f"street{seed}.jpg"
        place_photo(seed, (1280, 800)).save(path, quality=95)
        paths.append(path)
    return build(paths)


def test_reference_spots_lie_10_to_30_m_apart_with_a_view_per_pitch(world: World) -> None:
    for street in (0, 1):
        views = [v for v in world.references if v.street == street]
        spots = sorted({v.along_m for v in views})
        gaps = np.diff(spots)
        assert SPACING_M[0] <= gaps.min() <= gaps.max() <= SPACING_M[1]
        assert len(views) == len(spots) * len(PITCHES)


def test_recorded_positions_are_near_the_true_ones_and_streets_lie_apart(world: World) -> None:
    for view in world.references:
        assert haversine_m(view.location, place(view.street, view.along_m)) < 20
    assert haversine_m(place(0, 0), place(1, 0)) == pytest.approx(STREET_GAP_M, rel=0.01)


def test_the_sparse_set_keeps_every_12th_spot_and_its_queries_are_near_one(world: World) -> None:
    kept = [world.references[i] for i in world.sparse_references()]
    assert kept
    assert all(view.spot % SPARSE_EVERY == 0 for view in kept)
    for query in world.sparse_queries:
        nearest = min(abs(query.along_m - v.along_m) for v in kept if v.street == query.street)
        assert nearest <= 5


def test_views_are_jpegs_of_one_size_and_a_query_differs_from_the_reference_there(
    world: World,
) -> None:
    reference = world.references[0]
    query = world.queries[0]
    for data in (reference_photo(world, reference), query_photo(world, query, turn=0)):
        image = Image.open(io.BytesIO(data))
        assert (image.format, image.size) == ("JPEG", VIEW_SIZE)
    again = query_photo(world, reference, turn=0)  # seen from the reference's own spot
    difference = np.abs(
        np.asarray(Image.open(io.BytesIO(again)), np.float32)
        - np.asarray(Image.open(io.BytesIO(reference_photo(world, reference))), np.float32)
    )
    assert difference.mean() > 2.0
