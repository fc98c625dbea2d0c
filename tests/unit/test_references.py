from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from shared.images import UndecodableImage
from shared.index import Reference
from shared.jobs import QueryVector
from shared.references import ManifestError, content_id, index_manifest, read_manifest


def _manifest(folder: Path, text: str) -> Path:
    (folder / "a.jpg").write_bytes(b"photo a")
    (folder / "b.jpg").write_bytes(b"photo b")
    path = folder / "manifest.csv"
    path.write_text(text)
    return path


def test_every_bad_line_is_reported_with_its_number(tmp_path: Path) -> None:
    manifest = _manifest(
        tmp_path,
        "path,lat,lon\na.jpg,52.1,4.3\nmissing.jpg,52.1,4.3\nb.jpg,95,4.3\nb.jpg,52,east\n",
    )
    with pytest.raises(ManifestError) as raised:
        read_manifest(manifest)
    problems = raised.value.problems
    assert problems[0].startswith("line 3: no readable file")
    assert problems[1].startswith("line 4: latitude 95.0")
    assert problems[2].startswith("line 5: coordinates")
    assert len(problems) == 3


def test_header_without_coordinates_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="line 1: header lacks column"):
        read_manifest(_manifest(tmp_path, "path,latitude\na.jpg,1\n"))


def test_rows_resolve_paths_relative_to_the_manifest(tmp_path: Path) -> None:
    rows = read_manifest(_manifest(tmp_path, "path,lat,lon,id\na.jpg,52.1,4.3,first\nb.jpg,0,0,\n"))
    assert [r.path for r in rows] == [tmp_path / "a.jpg", tmp_path / "b.jpg"]
    assert [r.id for r in rows] == ["first", None]


class RecordingIndex:
    def __init__(self) -> None:
        self.added: list[Reference] = []
        self.refreshed = False

    def ensure(self, dim: int, model_id: str) -> None:
        assert (dim, model_id) == (2, "m")

    def add(self, references: list[Reference], model_id: str) -> int:
        self.added.extend(references)
        return len(references)

    def refresh(self) -> None:
        self.refreshed = True


def test_undecodable_photos_are_reported_and_the_rest_indexed(tmp_path: Path) -> None:
    rows = read_manifest(_manifest(tmp_path, "path,lat,lon,id\na.jpg,52.1,4.3,\nb.jpg,1,2,b\n"))

    def embed(data: bytes) -> QueryVector:
        if data == b"photo b":
            raise UndecodableImage("truncated")
        return QueryVector("m", np.array([1.0, 0.0], dtype=np.float32))

    index = RecordingIndex()
    report = index_manifest(rows, embed, index, dim=2, model_id="m")
    assert report.indexed == 1
    assert report.rejected == [f"line 3: {tmp_path / 'b.jpg'}: truncated"]
    assert index.added[0].id == content_id(b"photo a")  # no id column value: from the bytes
    assert index.refreshed
