from __future__ import annotations

import numpy as np
import pytest
from geopin_tools.model.agreement import cosines, search_top_k_overlap, top_k_overlap


def test_cosines_compare_each_row_with_the_same_row() -> None:
    a = np.array([[1.0, 0.0], [0.0, 2.0], [3.0, 4.0]])
    b = np.array([[2.0, 0.0], [1.0, 0.0], [-3.0, -4.0]])
    np.testing.assert_allclose(cosines(a, b), [1.0, 0.0, -1.0])


def _points(count: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(count, 8))


def test_identical_embeddings_find_the_same_neighbours() -> None:
    points = _points(20)
    assert top_k_overlap(points, points * 3.0, k=5) == 1.0


def test_unrelated_embeddings_share_few_neighbours() -> None:
    assert top_k_overlap(_points(40, seed=1), _points(40, seed=2), k=3) < 0.5


def _at_angles(*degrees: float) -> np.ndarray:
    radians = np.deg2rad(degrees)
    return np.stack([np.cos(radians), np.sin(radians)], axis=1)


def test_overlap_is_the_share_of_neighbour_sets_that_stay_the_same() -> None:
    # Nearest by angle: 0 <-> 10 and 90 <-> 100. Moving the last point to 30 degrees gives it
    # the point at 10 as its nearest; the other three keep theirs: 3 of 4 sets unchanged.
    before = _at_angles(0, 10, 90, 100)
    after = _at_angles(0, 10, 90, 30)
    assert top_k_overlap(before, after, k=1) == 0.75


@pytest.mark.parametrize("k", [0, 5])
def test_k_must_leave_a_neighbour_and_not_exceed_the_others(k: int) -> None:
    with pytest.raises(ValueError, match="k must be"):
        top_k_overlap(_points(5), _points(5), k=k)


def test_a_search_keeps_its_results_when_both_sides_change_alike() -> None:
    queries, references = _points(10, seed=3), _points(30, seed=4)
    rotation = np.linalg.qr(np.random.default_rng(5).normal(size=(8, 8)))[0]
    overlap = search_top_k_overlap(
        queries, references, queries @ rotation, references @ rotation, 10
    )
    assert overlap == pytest.approx(1.0)


def test_search_overlap_is_the_share_of_each_querys_results_both_models_return() -> None:
    # One query at 0 degrees; references at 10, 20, 80. Top-2 with A: 10 and 20. Model B sees
    # the reference at 80 at 5 degrees instead: its top 2 are 5 (was 80) and 10: one of two.
    query = _at_angles(0)
    before, after = _at_angles(10, 20, 80), _at_angles(10, 20, 5)
    assert search_top_k_overlap(query, before, query, after, k=2) == 0.5


def test_search_overlap_needs_k_references() -> None:
    with pytest.raises(ValueError, match="k must be"):
        search_top_k_overlap(_points(2), _points(3), _points(2), _points(3), k=4)
