"""Where ``geopin locate`` writes its answers: CSV, JSON Lines or GeoJSON, one row per photo.

Opened again, a file keeps its final answers (those asking again would repeat) and drops the
rest, so a resumed run asks only for the photos that still need it. The file is valid
whenever the run stops: CSV and JSON Lines grow by one flushed line at a time (a line cut off
by a crash is dropped when the file is next opened); a GeoJSON FeatureCollection cannot grow,
so it is written to a temporary file that then replaces the old one (RFC 7946).
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from enum import StrEnum
from pathlib import Path
from typing import IO, Any

from geopin.answers import Answer, is_final

COLUMNS = (
    "photo",
    "status",
    "lat",
    "lon",
    "radius_m",
    "confidence",
    "best_match",
    "best_score",
    "error_code",
    "job_id",
)
Record = dict[str, Any]


class Format(StrEnum):
    CSV = "csv"
    JSONL = "jsonl"
    GEOJSON = "geojson"

    @classmethod
    def of(cls, path: Path) -> Format | None:
        """The format a file name says (``.csv``, ``.jsonl``, ``.geojson``), if any."""
        suffix = path.suffix.lower()
        return {".csv": cls.CSV, ".jsonl": cls.JSONL, ".geojson": cls.GEOJSON}.get(suffix)


class AnswerFileError(ValueError):
    """An existing output file this command did not write in this format."""


def record(answer: Answer) -> Record:
    """An answer as one flat row: photo, status, estimate, best match, error."""
    estimate, best = answer.estimate, answer.best_match
    return {
        "photo": answer.photo,
        "status": answer.status,
        "lat": estimate.lat if estimate else None,
        "lon": estimate.lon if estimate else None,
        "radius_m": estimate.radius_m if estimate else None,
        "confidence": estimate.confidence if estimate else None,
        "best_match": best.id if best else None,
        "best_score": best.score if best else None,
        "error_code": answer.error_code,
        "job_id": answer.job_id,
    }


class AnswerFile:
    """An output file open for a run: :attr:`answered` names the photos it already holds."""

    def __init__(self, path: Path, format: Format) -> None:
        self.path, self.format = path, format
        kept = _read(path, format) if path.exists() else []
        self._records = [r for r in kept if is_final(r["status"], r.get("error_code") or None)]
        self.answered = {str(r["photo"]) for r in self._records}
        self._rewrite()
        self._lines: IO[str] | None = None
        if format is not Format.GEOJSON:
            self._lines = path.open("a", encoding="utf-8", newline="")

    def add(self, answer: Answer) -> None:
        row = record(answer)
        self._records.append(row)
        if self._lines is not None:
            self._lines.write(_line(row, self.format))
            self._lines.flush()

    def save(self) -> None:
        """Make the file hold every answer added (GeoJSON: rewritten; the others already do)."""
        if self.format is Format.GEOJSON:
            self._rewrite()

    def close(self) -> None:
        self.save()
        if self._lines is not None:
            self._lines.close()

    def __enter__(self) -> AnswerFile:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _rewrite(self) -> None:
        if self.format is Format.GEOJSON:
            features = [_feature(r) for r in self._records]
            text = json.dumps({"type": "FeatureCollection", "features": features}) + "\n"
        else:
            header = _line(dict(zip(COLUMNS, COLUMNS, strict=True)), Format.CSV)
            lines = "".join(_line(r, self.format) for r in self._records)
            text = (header if self.format is Format.CSV else "") + lines
        _replace(self.path, text)


def _line(row: Record, format: Format) -> str:
    if format is Format.JSONL:
        return json.dumps({c: row.get(c) for c in COLUMNS}) + "\n"
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(
        ["" if row.get(c) is None else row[c] for c in COLUMNS]
    )
    return out.getvalue()


def _feature(row: Record) -> dict[str, Any]:
    """A Point at the estimate ([lon, lat], as RFC 7946 orders them), or no geometry."""
    lat, lon = row.get("lat"), row.get("lon")
    geometry = None if lat is None or lon is None else {"type": "Point", "coordinates": [lon, lat]}
    properties = {c: row.get(c) for c in COLUMNS if c not in ("lat", "lon")}
    return {"type": "Feature", "geometry": geometry, "properties": properties}


def _read(path: Path, format: Format) -> list[Record]:
    text = path.read_text(encoding="utf-8")
    try:
        if format is Format.GEOJSON:
            return [_from_feature(f) for f in json.loads(text)["features"]] if text else []
        # A last line without its newline was cut off mid-write: it is asked for again.
        lines = text.splitlines(keepends=True)
        whole = [line for line in lines if line.endswith("\n")]
        return _from_csv(whole) if format is Format.CSV else [_from_json(line) for line in whole]
    except (ValueError, KeyError, TypeError) as exc:
        raise AnswerFileError(
            f"{path} is not a {format.value} file of `geopin locate` ({exc}); "
            "choose another --output, or move it away"
        ) from exc


def _from_csv(lines: list[str]) -> list[Record]:
    rows = list(csv.reader(lines))
    if not rows or tuple(rows[0]) != COLUMNS:
        raise ValueError(f"its header is not {','.join(COLUMNS)}")
    return [dict(zip(COLUMNS, row, strict=True)) for row in rows[1:]]


def _from_json(line: str) -> Record:
    row = json.loads(line)
    if not isinstance(row, dict) or not {"photo", "status"} <= row.keys():
        raise ValueError("a line is not an answer")
    return row


def _from_feature(feature: dict[str, Any]) -> Record:
    geometry = feature["geometry"]
    lon, lat = geometry["coordinates"] if geometry else (None, None)
    return {**feature["properties"], "lat": lat, "lon": lon}


def _replace(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path``, then rename it over ``path``:
    a reader, or a crash, sees the old file or the new one, never half of one."""
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent or Path())
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
