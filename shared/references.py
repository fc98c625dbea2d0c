"""Reference photos from a CSV manifest into the index.

A manifest has the header ``path,lat,lon`` and optionally ``id``; paths are relative
to the manifest. Every row is checked before anything is written, so a typo on
line 9,000 is reported at once rather than after an hour of embedding.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from shared.geo import BadCoordinates, LatLon
from shared.images import ImageRejected
from shared.index import Reference, VectorIndex
from shared.jobs import QueryVector

REQUIRED_COLUMNS = ("path", "lat", "lon")
WRITE_BATCH = 200


class ManifestError(ValueError):
    """The manifest cannot be used as it is; ``problems`` lists each bad line."""

    def __init__(self, manifest: Path, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(f"{manifest}: " + "; ".join(problems))


@dataclass(frozen=True)
class ManifestRow:
    line: int
    path: Path
    location: LatLon
    id: str | None


@dataclass
class IngestReport:
    indexed: int = 0
    rejected: list[str] = field(default_factory=list)


def read_manifest(manifest: Path) -> list[ManifestRow]:
    try:
        handle = manifest.open(newline="", encoding="utf-8")
    except OSError as exc:
        raise ManifestError(manifest, [f"cannot read it: {exc.strerror}"]) from exc
    rows: list[ManifestRow] = []
    problems: list[str] = []
    with handle:
        reader = csv.DictReader(handle)
        missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ManifestError(manifest, [f"line 1: header lacks column(s) {', '.join(missing)}"])
        for record in reader:
            line = reader.line_num
            path = manifest.parent / (record["path"] or "")
            try:
                location = LatLon.parse(record["lat"] or "", record["lon"] or "")
            except BadCoordinates as exc:
                problems.append(f"line {line}: {exc}")
                continue
            if not record["path"] or not path.is_file():
                problems.append(f"line {line}: no readable file at {path}")
                continue
            rows.append(ManifestRow(line, path, location, (record.get("id") or "").strip() or None))
    if problems:
        raise ManifestError(manifest, problems)
    return rows


def content_id(data: bytes) -> str:
    """An ID from the photo's bytes: indexing the same photo twice overwrites, never duplicates."""
    return hashlib.sha256(data).hexdigest()[:32]


def index_manifest(
    rows: list[ManifestRow],
    embed: Callable[[bytes], QueryVector],
    index: VectorIndex,
    dim: int,
    model_id: str,
    progress: Callable[[int], None] = lambda _: None,
) -> IngestReport:
    """Embed every row and write them in bulk; undecodable photos are reported, not indexed."""
    report = IngestReport()
    index.ensure(dim, model_id)

    def references() -> Iterator[Reference]:
        for row in rows:
            data = row.path.read_bytes()
            try:
                query = embed(data)
            except ImageRejected as exc:
                report.rejected.append(f"line {row.line}: {row.path}: {exc.detail}")
                continue
            finally:
                progress(1)
            yield Reference(row.id or content_id(data), row.location, query.vector)

    batch: list[Reference] = []
    for ref in references():
        batch.append(ref)
        if len(batch) >= WRITE_BATCH:
            report.indexed += index.add(batch, model_id)
            batch.clear()
    if batch:
        report.indexed += index.add(batch, model_id)
    index.refresh()
    return report
