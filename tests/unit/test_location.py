"""The consensus location estimate from a job's matches."""

from __future__ import annotations

import pytest
from geopin.geo import LatLon, haversine_m
from geopin.index import Match
from geopin.location import consensus
from geopin.settings import LocationSettings

SETTINGS = LocationSettings(cluster_radius_m=50, temperature=0.05, min_radius_m=25)
HERE = LatLon(52.3700, 4.9000)
ELSEWHERE = LatLon(52.4000, 4.8000)  # about 7.5 km away


def _north(place: LatLon, metres: float) -> LatLon:
    return LatLon(place.lat + metres / 111_195, place.lon)


def test_several_agreeing_matches_outvote_a_slightly_better_lone_one() -> None:
    matches = [
        Match("lone", ELSEWHERE, 0.80),
        Match("a", HERE, 0.79),
        Match("b", _north(HERE, 10), 0.79),
        Match("c", _north(HERE, 20), 0.78),
    ]
    estimate = consensus(matches, SETTINGS.model_copy(update={"min_radius_m": 0}))
    assert estimate is not None
    assert haversine_m(estimate.location, _north(HERE, 10)) < 5
    assert 0.5 < estimate.confidence < 1
    assert estimate.radius_m == pytest.approx(
        haversine_m(estimate.location, _north(HERE, 20)), abs=2
    )
    assert estimate.public()["method"] == "densest-cluster"


def test_a_much_better_match_wins_alone_with_the_minimum_radius() -> None:
    matches = [Match("best", ELSEWHERE, 0.95), Match("a", HERE, 0.60), Match("b", HERE, 0.60)]
    estimate = consensus(matches, SETTINGS)
    assert estimate is not None
    assert haversine_m(estimate.location, ELSEWHERE) < 0.01
    assert estimate.radius_m == 25
    assert estimate.confidence > 0.99


def test_unanimous_matches_give_full_confidence() -> None:
    matches = [Match(str(i), _north(HERE, i), 0.9 - i / 100) for i in range(5)]
    estimate = consensus(matches, SETTINGS)
    assert estimate is not None
    assert estimate.confidence == 1.0


def test_no_matches_no_estimate() -> None:
    assert consensus([], SETTINGS) is None


def test_a_cluster_astride_the_antimeridian_averages_to_it() -> None:
    matches = [Match("w", LatLon(0, 179.9999), 0.9), Match("e", LatLon(0, -179.9999), 0.9)]
    estimate = consensus(matches, SETTINGS)
    assert estimate is not None
    assert abs(estimate.location.lon) == pytest.approx(180)
