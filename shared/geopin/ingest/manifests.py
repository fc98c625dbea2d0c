"""CSV and JSONL manifests: ``path, lat, lon`` and optionally ``id, heading, captured_at``.

Paths are relative to the manifest. Every row is checked before anything is written, so a
typo on line 9,000 is reported at once rather than after an hour of embedding; a row whose
lat and lon are both empty is not an error but a photo without coordinates, which ingestion
reports and skips.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from geopin.geo import LatLon
from geopin.ingest.sources import Candidate, SourceError, parse_captured_at, parse_heading

REQUIRED_COLUMNS = ("path", "lat", "lon")


def read_csv(manifest: Path) -> list[Candidate]:
    with _open(manifest) as handle:
        reader = csv.DictReader(handle)
        try:
            missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                problem = f"line 1: header lacks column(s) {', '.join(missing)}"
                raise SourceError(manifest, [problem])
            return _candidates(manifest, ((reader.line_num, record) for record in reader))
        except (UnicodeDecodeError, csv.Error) as exc:
            raise SourceError(manifest, [f"line {reader.line_num + 1}: not UTF-8 CSV"]) from exc


def read_jsonl(manifest: Path) -> list[Candidate]:
    def records() -> Iterator[tuple[int, Mapping[str, Any] | None]]:
        with _open(manifest) as handle:
            for number, line in enumerate(handle, start=1):
                if line.strip():
                    try:
                        record = json.loads(line)
                    except ValueError:
                        record = None
                    yield number, record if isinstance(record, dict) else None

    try:
        return _candidates(manifest, records())
    except UnicodeDecodeError as exc:
        raise SourceError(manifest, ["not UTF-8 text"]) from exc


def _open(manifest: Path) -> Any:
    try:
        return manifest.open(newline="", encoding="utf-8")
    except OSError as exc:
        raise SourceError(manifest, [f"cannot read it: {exc.strerror}"]) from exc


def _candidates(
    manifest: Path, records: Iterator[tuple[int, Mapping[str, Any] | None]]
) -> list[Candidate]:
    candidates: list[Candidate] = []
    problems: list[str] = []
    for line, record in records:
        if record is None:
            problems.append(f"line {line}: not a JSON object")
            continue
        try:
            candidates.append(_candidate(manifest, line, record))
        except ValueError as exc:
            problems.append(f"line {line}: {exc}")
    if problems:
        raise SourceError(manifest, problems)
    return candidates


def _candidate(manifest: Path, line: int, record: Mapping[str, Any]) -> Candidate:
    def text(key: str) -> str:
        value = record.get(key)
        return "" if value is None else str(value).strip()

    lat, lon = text("lat"), text("lon")
    location = LatLon.parse(lat, lon) if lat or lon else None
    path = manifest.parent / text("path")
    if not text("path") or not path.is_file():
        raise ValueError(f"no readable file at {path}")
    return Candidate(
        path=path,
        origin=f"line {line}",
        id=text("id") or text("path"),
        location=location,
        heading=parse_heading(text("heading")),
        captured_at=parse_captured_at(text("captured_at")),
    )
