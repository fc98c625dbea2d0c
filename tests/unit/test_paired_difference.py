from __future__ import annotations

import numpy as np
import pytest
from geopin_tools.evaluation.paired import paired_difference


def test_models_that_answer_alike_differ_by_exactly_nothing() -> None:
    hits = np.random.default_rng(0).random(200) < 0.8
    result = paired_difference(hits, hits.copy(), np.arange(200) // 5)
    assert (result.difference, result.low, result.high) == (0.0, 0.0, 0.0)
    assert (result.only_a, result.only_b) == (0, 0)
    assert result.recall_a == result.recall_b == pytest.approx(hits.mean())


def test_a_model_that_finds_more_places_everywhere_has_an_interval_above_zero() -> None:
    a = np.zeros(100, bool)
    b = np.zeros(100, bool)
    b[::10] = True  # one more hit in every place of ten queries
    result = paired_difference(a, b, np.arange(100) // 10)
    assert result.difference == pytest.approx(0.1)
    assert [result.low, result.high] == pytest.approx([0.1, 0.1])
    assert (result.only_a, result.only_b, result.groups) == (0, 10, 10)


def test_queries_of_one_place_count_together_so_the_interval_is_wider() -> None:
    # Every query of 5 places out of 50 flips one way, of 5 others the other way: per query the
    # flips look like 100 independent events, per place they are only 10.
    groups = np.arange(500) // 10
    a = np.zeros(500, bool)
    b = np.zeros(500, bool)
    a[groups < 5] = True
    b[(groups >= 5) & (groups < 10)] = True
    by_place = paired_difference(a, b, groups)
    by_query = paired_difference(a, b, np.arange(500))
    assert by_place.difference == by_query.difference == 0.0
    assert by_place.high - by_place.low > 2 * (by_query.high - by_query.low)


def test_hits_and_groups_must_match() -> None:
    with pytest.raises(ValueError, match="equally long"):
        paired_difference(np.ones(3, bool), np.ones(4, bool), np.arange(3))
