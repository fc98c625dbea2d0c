"""Ingestion of reference photos: sources, quality control, near-duplicates, bulk loading.

docs/ingestion.md describes the sources, the checks and how a run resumes.
"""

from __future__ import annotations

from pathlib import Path

from geopin.ingest.manifests import read_csv, read_jsonl
from geopin.ingest.sources import Candidate, SourceKind, detect, read_folder, read_vpr_folder

_READERS = {
    SourceKind.CSV: read_csv,
    SourceKind.JSONL: read_jsonl,
    SourceKind.FOLDER: read_folder,
    SourceKind.VPR: read_vpr_folder,
}


def read_source(source: Path, kind: SourceKind | None = None) -> list[Candidate]:
    """Every photo a source lists; raises :class:`~.sources.SourceError` for a bad source."""
    return _READERS[kind or detect(source)](source)
