"""Search areas given at POST /v1/jobs: parsed, validated, stored and read back."""

from __future__ import annotations

import pytest
from geopin.geo import (
    BadGeoFilter,
    BoundingBox,
    Circle,
    LatLon,
    geo_filter_from_dict,
    parse_geo_filter,
)


def test_bbox_is_south_west_north_east() -> None:
    assert parse_geo_filter("52.3,4.8,52.4,5.0", None, None) == BoundingBox(52.3, 4.8, 52.4, 5.0)


def test_center_and_radius_make_a_circle() -> None:
    assert parse_geo_filter(None, "52.37,4.9", "1500") == Circle(LatLon(52.37, 4.9), 1500)


def test_no_fields_no_area() -> None:
    assert parse_geo_filter(None, None, None) is None


def test_a_bbox_across_the_antimeridian_is_allowed() -> None:
    assert parse_geo_filter("-20,170,-10,-170", None, None) == BoundingBox(-20, 170, -10, -170)


@pytest.mark.parametrize(
    ("bbox", "center", "radius", "message"),
    [
        ("52,4,53", None, None, "bbox must be 4 plain decimal"),
        ("52,4,53,x", None, None, "bbox must be 4 plain decimal"),
        ("53,4,52,5", None, None, "is north of north"),
        ("52,4,95,5", None, None, "latitude 95.0"),
        ("52,4,53,nan", None, None, "bbox must be 4 plain decimal"),
        (None, "52.3,4.9", None, "go together"),
        (None, None, "100", "go together"),
        (None, "52.3", "100", "center must be 2 plain decimal"),
        (None, "52.3,4.9", "0", "is not above 0"),
        (None, "52.3,4.9", "30000000", "is not above 0"),
        (None, "52.3,4.9", "3e7", "radius_m must be 1 plain decimal"),
        (None, "+52.3, 4.9", "10", "center must be 2 plain decimal"),
        (None, "52.3,200", "10", "longitude 200.0"),
        ("52,4,53,5", "52.3,4.9", "10", "not both"),
    ],
)
def test_bad_areas_are_refused_with_a_reason(
    bbox: str | None, center: str | None, radius: str | None, message: str
) -> None:
    with pytest.raises(BadGeoFilter, match=message):
        parse_geo_filter(bbox, center, radius)


@pytest.mark.parametrize(
    "area", [BoundingBox(52.3, 4.8, 52.4, 5.0), Circle(LatLon(-33.9, 151.2), 250.0)]
)
def test_stored_areas_read_back_equal(area: BoundingBox | Circle) -> None:
    assert geo_filter_from_dict(area.to_dict()) == area
