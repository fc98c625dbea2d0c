"""The location estimate from a job's matches."""

from __future__ import annotations

import pytest
from geopin.geo import LatLon, haversine_m
from geopin.index import Match
from geopin.location import METHOD, calibrated, consensus, matches_to_fetch
from geopin.settings import LocationSettings

SETTINGS = LocationSettings(
    candidates=20, cluster_radius_m=50, temperature=0.02, overrule_factor=2, min_radius_m=25
)
HERE = LatLon(52.3700, 4.9000)
ELSEWHERE = LatLon(52.4000, 4.8000)  # about 7.5 km away


def _north(place: LatLon, metres: float) -> LatLon:
    return LatLon(place.lat + metres / 111_195, place.lon)


def _street(start: LatLon, count: int, score: float) -> list[Match]:
    """``count`` references 10 m apart along a street, all scoring ``score``."""
    return [Match(f"street-{i}", _north(start, 10 * i), score) for i in range(count)]


def test_the_estimate_ignores_matches_beyond_its_candidates() -> None:
    # Three candidates keep the lone best; all 31 would let the street overrule it.
    shown = [Match("best", HERE, 0.90), *_street(ELSEWHERE, 30, 0.89)]
    few = SETTINGS.model_copy(update={"candidates": 3})
    estimate = consensus(shown, few)
    assert estimate == consensus(shown[:3], few)
    assert estimate is not None
    assert haversine_m(estimate.location, HERE) < 0.01


@pytest.mark.parametrize("top_k", [1, 3, 10, 20, 100])
def test_a_search_fetches_enough_matches_to_show_and_to_estimate_from(top_k: int) -> None:
    assert matches_to_fetch(top_k, SETTINGS) == max(top_k, SETTINGS.candidates)


def test_a_clearly_better_match_beats_a_dense_street_of_mediocre_ones() -> None:
    # Five references 10 m apart, each 0.02 worse than the best, weigh 5/e = 1.8 times it.
    matches = [Match("best", ELSEWHERE, 0.90), *_street(HERE, 5, 0.88)]
    estimate = consensus(matches, SETTINGS)
    assert estimate is not None
    assert haversine_m(estimate.location, ELSEWHERE) < 0.01
    assert estimate.radius_m == 25


def test_a_dense_street_of_nearly_as_good_matches_overrules_a_lone_best() -> None:
    # Five references 0.005 worse than the best weigh 3.9 times it: more than twice.
    matches = [Match("lone", ELSEWHERE, 0.900), *_street(HERE, 5, 0.895)]
    estimate = consensus(matches, SETTINGS.model_copy(update={"min_radius_m": 0}))
    assert estimate is not None
    assert haversine_m(estimate.location, _north(HERE, 20)) < 1  # the street's middle
    assert estimate.radius_m == pytest.approx(20, abs=0.5)  # to its farthest member
    assert estimate.public()["method"] == METHOD


def test_the_top_matchs_neighbours_pull_the_estimate_towards_them_by_their_weight() -> None:
    matches = [Match("best", HERE, 0.90), Match("near", _north(HERE, 30), 0.90 - 0.02)]
    estimate = consensus(matches, SETTINGS)
    assert estimate is not None
    weight = 1 / 2.718281828  # the neighbour is one temperature worse
    assert haversine_m(estimate.location, HERE) == pytest.approx(30 * weight / (1 + weight), 0.01)


def test_confidence_rises_with_the_winning_clusters_share() -> None:
    shares = [0.001, 0.05, 0.2, 0.4, 0.5, 0.6, 0.8, 0.95, 0.999]
    confidences = [calibrated(share, SETTINGS) for share in shares]
    assert confidences == sorted(confidences)
    assert len(set(confidences)) == len(confidences)
    assert all(0 < c < 1 for c in confidences)


def test_more_agreeing_matches_give_more_confidence() -> None:
    alone = [Match("best", HERE, 0.9), *_street(ELSEWHERE, 3, 0.89)]
    backed = [Match("best", HERE, 0.9), Match("next", _north(HERE, 10), 0.89), *alone[1:]]
    first, second = consensus(alone, SETTINGS), consensus(backed, SETTINGS)
    assert first is not None
    assert second is not None
    assert second.confidence > first.confidence


def test_the_calibration_maps_a_share_as_its_settings_say() -> None:
    identity = SETTINGS.model_copy(update={"calibration_intercept": 0, "calibration_slope": 1})
    assert calibrated(0.3, identity) == pytest.approx(0.3)
    shifted = identity.model_copy(update={"calibration_intercept": 1.0})
    assert calibrated(0.5, shifted) == pytest.approx(1 / (1 + 2.718281828**-1))


def test_unanimous_matches_give_the_highest_confidence_there_is() -> None:
    estimate = consensus(_street(HERE, 5, 0.9), SETTINGS)
    assert estimate is not None
    assert estimate.share == 1
    assert estimate.confidence == calibrated(1.0, SETTINGS)
    assert estimate.confidence > calibrated(0.99, SETTINGS)


def test_no_matches_no_estimate() -> None:
    assert consensus([], SETTINGS) is None


def test_a_cluster_astride_the_antimeridian_averages_to_it() -> None:
    matches = [Match("w", LatLon(0, 179.9999), 0.9), Match("e", LatLon(0, -179.9999), 0.9)]
    estimate = consensus(matches, SETTINGS)
    assert estimate is not None
    assert abs(estimate.location.lon) == pytest.approx(180)
