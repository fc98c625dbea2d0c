"""Sources of reference photos: CSV and JSONL manifests, EXIF folders, VPR file names."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from geopin.geo import LatLon, haversine_m
from geopin.ingest import read_source
from geopin.ingest.sources import SourceError, SourceKind, detect, parse_vpr_name

from tests.support.factories import UTM_EAST, UTM_NORTH, encode, place_photo, vpr_name


def _manifest(folder: Path, name: str, text: str) -> Path:
    (folder / "a.jpg").write_bytes(b"photo a")
    (folder / "b.jpg").write_bytes(b"photo b")
    path = folder / name
    path.write_text(text)
    return path


def test_every_bad_csv_line_is_reported_with_its_number(tmp_path: Path) -> None:
    manifest = _manifest(
        tmp_path,
        "m.csv",
        "path,lat,lon\na.jpg,52.1,4.3\nmissing.jpg,52.1,4.3\nb.jpg,95,4.3\nb.jpg,52,east\n",
    )
    with pytest.raises(SourceError) as raised:
        read_source(manifest)
    problems = raised.value.problems
    assert problems[0].startswith("line 3: no readable file")
    assert problems[1].startswith("line 4: latitude 95.0")
    assert problems[2].startswith("line 5: coordinates")
    assert len(problems) == 3


def test_csv_header_without_coordinates_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="line 1: header lacks column"):
        read_source(_manifest(tmp_path, "m.csv", "path,latitude\na.jpg,1\n"))


def test_csv_optional_columns_and_empty_coordinates(tmp_path: Path) -> None:
    manifest = _manifest(
        tmp_path,
        "m.csv",
        "path,lat,lon,id,heading,captured_at\n"
        "a.jpg,52.1,4.3,first,370,2024-05-01T10:00:00+02:00\n"
        "b.jpg,,,,,\n",
    )
    first, second = read_source(manifest)
    assert (first.path, first.id, first.heading) == (tmp_path / "a.jpg", "first", 10.0)
    assert first.captured_at == "2024-05-01T10:00:00+02:00"
    assert first.location == LatLon(52.1, 4.3)
    assert (second.id, second.location, second.origin) == ("b.jpg", None, "line 3")


def test_jsonl_manifest_reads_numbers_and_names_bad_lines(tmp_path: Path) -> None:
    rows = [
        {"path": "a.jpg", "lat": 52.1, "lon": 4.3, "heading": 90},
        {"path": "b.jpg", "lat": 52.2, "lon": 4.4, "captured_at": "2024-05-01"},
    ]
    good = _manifest(tmp_path, "m.jsonl", "\n".join(json.dumps(r) for r in rows) + "\n\n")
    first, second = read_source(good)
    assert (first.location, first.heading) == (LatLon(52.1, 4.3), 90.0)
    assert second.captured_at == "2024-05-01T00:00:00"
    bad = _manifest(tmp_path, "bad.jsonl", '{"path": "a.jpg", "lat": 1, "lon": 2}\n[1]\n{"path"\n')
    with pytest.raises(SourceError) as raised:
        read_source(bad)
    assert raised.value.problems == ["line 2: not a JSON object", "line 3: not a JSON object"]


def test_folder_lists_photos_recursively_to_be_located_by_exif(tmp_path: Path) -> None:
    (tmp_path / "street" / "north").mkdir(parents=True)
    for name in ("street/north/b.HEIC", "street/a.jpg", "c.webp", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    candidates = read_source(tmp_path)
    assert detect(tmp_path) is SourceKind.FOLDER
    assert [c.id for c in candidates] == ["c.webp", "street/a.jpg", "street/north/b.HEIC"]
    assert all(c.located_by_exif and c.location is None for c in candidates)


def test_vpr_name_gives_utm_and_lat_lon() -> None:
    parsed = parse_vpr_name(vpr_name(UTM_EAST, UTM_NORTH, heading=400))
    assert (parsed.east, parsed.north, parsed.heading) == (UTM_EAST, UTM_NORTH, 40.0)
    assert parsed.location is not None


def test_vpr_name_without_lat_lon_is_located_from_utm_and_zone() -> None:
    named = parse_vpr_name(vpr_name(UTM_EAST, UTM_NORTH, with_latlon=True)).location
    from_utm = parse_vpr_name(vpr_name(UTM_EAST, UTM_NORTH, with_latlon=False)).location
    assert named is not None
    assert from_utm is not None
    assert haversine_m(named, from_utm) < 0.05


def test_vpr_name_with_only_east_north_has_no_location() -> None:
    parsed = parse_vpr_name("@629000.5@5806000.25@@@@@.jpg")
    assert (parsed.east, parsed.north, parsed.location) == (629000.5, 5806000.25, None)


def test_vpr_folder_is_detected_and_bad_names_refused(tmp_path: Path) -> None:
    photo = encode(place_photo(0))
    (tmp_path / vpr_name(UTM_EAST, UTM_NORTH)).write_bytes(photo)
    assert detect(tmp_path) is SourceKind.VPR
    (candidate,) = read_source(tmp_path)
    assert candidate.location is not None
    assert not candidate.located_by_exif
    (tmp_path / "@east@north@.jpg").write_bytes(photo)
    with pytest.raises(SourceError, match="are not numbers"):
        read_source(tmp_path)
