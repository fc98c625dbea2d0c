"""Coordinates: validation, distances, search areas, and UTM conversion."""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass
from typing import Any

import utm

EARTH_RADIUS_M = 6_371_008.8  # mean radius (IUGG), metres


class BadCoordinates(ValueError):
    """A latitude or longitude that is not a finite number in range."""


@dataclass(frozen=True)
class LatLon:
    lat: float
    lon: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.lat) and -90.0 <= self.lat <= 90.0):
            raise BadCoordinates(f"latitude {self.lat!r} is not a number between -90 and 90")
        if not (math.isfinite(self.lon) and -180.0 <= self.lon <= 180.0):
            raise BadCoordinates(f"longitude {self.lon!r} is not a number between -180 and 180")

    @classmethod
    def parse(cls, lat: str, lon: str) -> LatLon:
        """From text, as read from a manifest or a form field."""
        try:
            return cls(float(lat), float(lon))
        except ValueError as exc:
            if isinstance(exc, BadCoordinates):
                raise
            raise BadCoordinates(f"coordinates {lat!r}, {lon!r} are not numbers") from exc


def haversine_m(a: LatLon, b: LatLon) -> float:
    """Great-circle distance in metres; accurate to ~0.5% anywhere, plenty for 25 m radii."""
    phi1, phi2 = math.radians(a.lat), math.radians(b.lat)
    dphi = phi2 - phi1
    dlmb = math.radians(b.lon - a.lon)
    h = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


MAX_RADIUS_M = math.pi * EARTH_RADIUS_M  # half the circumference: a circle covering the globe


class BadGeoFilter(ValueError):
    """A search area that cannot be used: malformed, out of range, or both kinds at once."""


@dataclass(frozen=True)
class BoundingBox:
    """A latitude/longitude rectangle; ``west > east`` means it crosses the antimeridian."""

    south: float
    west: float
    north: float
    east: float

    def __post_init__(self) -> None:
        try:
            LatLon(self.south, self.west), LatLon(self.north, self.east)
        except BadCoordinates as exc:
            raise BadGeoFilter(f"bounding box corner: {exc}") from exc
        if self.south > self.north:
            raise BadGeoFilter(f"bounding box south {self.south} is north of north {self.north}")

    def to_dict(self) -> dict[str, float | str]:
        return {"type": "bbox", **asdict(self)}


@dataclass(frozen=True)
class Circle:
    """Everything within ``radius_m`` metres (great-circle) of ``centre``."""

    centre: LatLon
    radius_m: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.radius_m) and 0 < self.radius_m <= MAX_RADIUS_M):
            raise BadGeoFilter(f"radius {self.radius_m!r} m is not above 0 and at most 20,015 km")

    def to_dict(self) -> dict[str, float | str]:
        return {
            "type": "circle",
            "lat": self.centre.lat,
            "lon": self.centre.lon,
            "radius_m": self.radius_m,
        }


GeoFilter = BoundingBox | Circle


def geo_filter_from_dict(data: dict[str, Any]) -> GeoFilter:
    """The inverse of ``to_dict``, for filters stored on a job."""
    if data["type"] == "bbox":
        return BoundingBox(data["south"], data["west"], data["north"], data["east"])
    return Circle(LatLon(data["lat"], data["lon"]), data["radius_m"])


def parse_geo_filter(
    bbox: str | None, center: str | None, radius_m: str | None
) -> GeoFilter | None:
    """A search area from text fields: ``bbox=south,west,north,east`` or ``center=lat,lon``
    with ``radius_m``; None when none is given. Latitude comes first, as everywhere in GeoPin.
    """
    if bbox is not None and (center is not None or radius_m is not None):
        raise BadGeoFilter("give either bbox, or center and radius_m, not both")
    if bbox is not None:
        south, west, north, east = _numbers(bbox, 4, "bbox", "south,west,north,east")
        return BoundingBox(south, west, north, east)
    if center is None and radius_m is None:
        return None
    if center is None or radius_m is None:
        raise BadGeoFilter("center and radius_m go together")
    lat, lon = _numbers(center, 2, "center", "lat,lon")
    (radius,) = _numbers(radius_m, 1, "radius_m", "metres")
    try:
        return Circle(LatLon(lat, lon), radius)
    except BadCoordinates as exc:
        raise BadGeoFilter(f"center: {exc}") from exc


def decimals_pattern(count: int) -> str:
    """``count`` comma-separated plain decimals (``-12.5``: no exponent, sign or space), the
    syntax of ``bbox``, ``center`` and ``radius_m``; a JSON Schema pattern once anchored."""
    decimal = r"-?[0-9]+(?:\.[0-9]+)?"
    return f"{decimal}(?:,{decimal}){{{count - 1}}}"


def _numbers(text: str, count: int, name: str, form: str) -> list[float]:
    if not re.fullmatch(decimals_pattern(count), text):
        raise BadGeoFilter(f"{name} must be {count} plain decimal number(s), {form}; got {text!r}")
    return [float(part) for part in text.split(",")]


def utm_to_latlon(east: float, north: float, zone_number: int, zone_letter: str) -> LatLon:
    """WGS84 latitude/longitude of a UTM position (VPR datasets name photos by UTM)."""
    try:
        lat, lon = utm.to_latlon(east, north, zone_number, zone_letter)
    except utm.error.OutOfRangeError as exc:
        raise BadCoordinates(f"UTM {east} {north} zone {zone_number}{zone_letter}: {exc}") from exc
    return LatLon(float(lat), float(lon))
