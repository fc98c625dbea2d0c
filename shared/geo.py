"""Coordinates: validation, distances, and the location estimate of a job."""

from __future__ import annotations

import math
from dataclasses import dataclass

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
