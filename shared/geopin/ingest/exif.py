"""Where and when a photo was taken, from its EXIF tags (GPS IFD and DateTimeOriginal)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from PIL import Image

from geopin.geo import BadCoordinates, LatLon

GPS_IFD: Final = 0x8825
EXIF_IFD: Final = 0x8769
LATITUDE_REF, LATITUDE, LONGITUDE_REF, LONGITUDE = 1, 2, 3, 4
IMG_DIRECTION: Final = 17
DATETIME_ORIGINAL, OFFSET_TIME_ORIGINAL = 36867, 36881


@dataclass(frozen=True)
class PhotoTags:
    location: LatLon | None
    heading: float | None
    captured_at: str | None


def read_tags(exif: Image.Exif) -> PhotoTags:
    """The tags GeoPin uses; each is None when absent or unusable."""
    gps = exif.get_ifd(GPS_IFD)
    return PhotoTags(_location(gps), _heading(gps), _captured_at(exif.get_ifd(EXIF_IFD)))


def _location(gps: dict[int, Any]) -> LatLon | None:
    """Degrees from the degree/minute/second rationals, signed by the N/S and E/W refs.

    0, 0 is treated as absent: cameras without a fix write it, and no street is there.
    """
    try:
        lat = _degrees(gps[LATITUDE]) * (-1 if str(gps[LATITUDE_REF]).upper() == "S" else 1)
        lon = _degrees(gps[LONGITUDE]) * (-1 if str(gps[LONGITUDE_REF]).upper() == "W" else 1)
        location = LatLon(lat, lon)
    except (KeyError, TypeError, ValueError, ZeroDivisionError, BadCoordinates):
        return None
    return None if (lat, lon) == (0.0, 0.0) else location


def _degrees(dms: Any) -> float:
    degrees, minutes, seconds = (float(part) for part in dms)
    return degrees + minutes / 60 + seconds / 3600


def _heading(gps: dict[int, Any]) -> float | None:
    try:
        heading = float(gps[IMG_DIRECTION])
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return None
    return heading % 360 if math.isfinite(heading) else None


def _captured_at(exif_ifd: dict[int, Any]) -> str | None:
    """ISO 8601; with the offset when the camera recorded one (EXIF 2.31), else local time."""
    raw = exif_ifd.get(DATETIME_ORIGINAL)
    if not isinstance(raw, str):
        return None
    try:
        taken = datetime.strptime(raw.strip("\x00 "), "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    offset = exif_ifd.get(OFFSET_TIME_ORIGINAL)
    stamp = taken.isoformat()
    if isinstance(offset, str) and len(offset.strip("\x00 ")) == 6:
        stamp += offset.strip("\x00 ")
    return stamp
