"""Where reference photos come from: manifests, folders of geotagged photos, VPR datasets.

Every source yields :class:`Candidate` photos. A candidate may lack coordinates (a photo
without GPS tags, a manifest row with empty lat/lon): ingestion reports it and indexes
nothing for it. Malformed manifests are refused whole instead (:mod:`.manifests`).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Final

from geopin.geo import LatLon, utm_to_latlon

PHOTO_SUFFIXES: Final = frozenset({".jpg", ".jpeg", ".png", ".webp", ".heic", ".heif"})


class SourceKind(StrEnum):
    CSV = "csv"  # path,lat,lon[,id,heading,captured_at]
    JSONL = "jsonl"  # one object per line with the same keys
    FOLDER = "folder"  # photos located by their EXIF GPS tags
    VPR = "vpr"  # VPR-datasets file names: @east@north@zone@letter@lat@lon@...


class SourceError(ValueError):
    """The source cannot be used as it is; ``problems`` lists what is wrong, line by line."""

    def __init__(self, source: Path, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(problems))


@dataclass(frozen=True)
class Candidate:
    """A photo to index. ``origin`` says where it was listed, for reports ("line 7")."""

    path: Path
    origin: str
    id: str
    location: LatLon | None = None
    heading: float | None = None
    captured_at: str | None = None
    located_by_exif: bool = False  # the location is read from the photo itself


@dataclass(frozen=True)
class VprName:
    """What a VPR-datasets file name says: UTM position (the protocol's) and, if given, lat/lon."""

    east: float
    north: float
    location: LatLon | None
    heading: float | None


def detect(source: Path) -> SourceKind:
    """The kind of source, from its suffix or, for a folder, from its photos' names."""
    if source.is_dir():
        first = next(iter(photos_under(source)), None)
        return SourceKind.VPR if first is not None and "@" in first.name else SourceKind.FOLDER
    if source.suffix.lower() in (".jsonl", ".ndjson"):
        return SourceKind.JSONL
    return SourceKind.CSV


def photos_under(folder: Path) -> list[Path]:
    """Photo files in a folder tree, in a stable order (sorted walk, symlinks not followed)."""
    found: list[Path] = []
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        found.extend(
            Path(root) / name
            for name in sorted(files)
            if Path(name).suffix.lower() in PHOTO_SUFFIXES
        )
    return found


def read_folder(folder: Path) -> list[Candidate]:
    """Every photo under ``folder``, to be located by its EXIF GPS tags."""
    return [
        Candidate(
            path, origin=_relative(path, folder), id=_relative(path, folder), located_by_exif=True
        )
        for path in photos_under(folder)
    ]


def read_vpr_folder(folder: Path) -> list[Candidate]:
    """Photos named as VPR-datasets does; a name that does not parse is refused with the rest."""
    candidates, problems = [], []
    for path in photos_under(folder):
        name = _relative(path, folder)
        try:
            parsed = parse_vpr_name(path.name)
        except ValueError as exc:
            problems.append(f"{name}: {exc}")
            continue
        candidates.append(Candidate(path, name, name, parsed.location, parsed.heading))
    if problems:
        raise SourceError(folder, problems)
    return candidates


def parse_vpr_name(name: str) -> VprName:
    """``@east@north@zone_number@zone_letter@lat@lon@pano_id@tile@heading@...@.jpg``.

    East and north are required (the evaluation protocol measures distances with them);
    lat/lon come from the name when present, else from UTM when the zone is given.
    """
    fields = name.split("@")
    if len(fields) < 4 or fields[0]:
        raise ValueError("not a VPR-datasets name (@east@north@zone@letter@lat@lon@...)")
    field = dict(enumerate(fields))
    try:
        east, north = float(fields[1]), float(fields[2])
    except ValueError as exc:
        raise ValueError(f"UTM east/north {fields[1]!r}, {fields[2]!r} are not numbers") from exc
    location = None
    if field.get(5) and field.get(6):
        location = LatLon.parse(field[5], field[6])
    elif field.get(3, "").isdigit() and field.get(4):
        location = utm_to_latlon(east, north, int(field[3]), field[4])
    heading = _number(field.get(9, ""))
    return VprName(east, north, location, heading % 360 if heading is not None else None)


def parse_heading(text: str) -> float | None:
    """Degrees clockwise from north, folded into [0, 360); None when empty."""
    value = _number(text)
    if text.strip() and value is None:
        raise ValueError(f"heading {text!r} is not a number of degrees")
    return value % 360 if value is not None else None


def parse_captured_at(text: str) -> str | None:
    """An ISO 8601 date or time, normalised; None when empty."""
    if not text.strip():
        return None
    try:
        return datetime.fromisoformat(text.strip()).isoformat()
    except ValueError as exc:
        raise ValueError(f"captured_at {text!r} is not an ISO 8601 date or time") from exc


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _relative(path: Path, folder: Path) -> str:
    return path.relative_to(folder).as_posix()
