from __future__ import annotations

import math

import pytest
from geopin.geo import EARTH_RADIUS_M, BadCoordinates, LatLon, haversine_m


@pytest.mark.parametrize(
    ("lat", "lon"),
    [("91", "0"), ("-90.5", "0"), ("0", "180.1"), ("nan", "0"), ("inf", "0"), ("x", "1"), ("", "")],
)
def test_out_of_range_or_non_numeric_coordinates_are_refused(lat: str, lon: str) -> None:
    with pytest.raises(BadCoordinates):
        LatLon.parse(lat, lon)


def test_haversine_agrees_with_arc_lengths_on_the_sphere() -> None:
    # A degree of latitude is R*pi/180; a quarter of the equator is R*pi/2.
    assert haversine_m(LatLon(52, 5), LatLon(53, 5)) == pytest.approx(
        EARTH_RADIUS_M * math.pi / 180
    )
    assert haversine_m(LatLon(0, 0), LatLon(0, 90)) == pytest.approx(EARTH_RADIUS_M * math.pi / 2)


def test_haversine_of_one_arc_second_of_latitude_is_about_31_m() -> None:
    d = haversine_m(LatLon(52.0, 5.0), LatLon(52.0 + 1 / 3600, 5.0))
    assert d == pytest.approx(30.9, abs=0.2)
    assert math.isclose(haversine_m(LatLon(1, 2), LatLon(1, 2)), 0.0)
