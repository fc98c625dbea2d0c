"""`geopin index add/rebuild/list/prune` against the real Elasticsearch (and, distributed, a
real embedding worker)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from geopin.cli import main
from PIL import Image, ImageFilter

from tests.support.factories import encode, geotagged, place_location, place_photo
from tests.support.stack import delete_indices, start_embedder

FORMATS = ["JPEG", "WEBP", "PNG", "HEIF"]


@pytest.fixture
def env(
    es_server: str, base_env: dict[str, str], redis_db: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, str]]:
    alias = f"geopin-test-ingest-{uuid.uuid4().hex[:8]}"
    values = {
        **base_env,
        "GEOPIN_REDIS__URL": redis_db,
        "GEOPIN_ELASTICSEARCH__INDEX": alias,
        "GEOPIN_IMAGES__SHORTER_SIDE": "128",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    yield values
    delete_indices(es_server, alias)


def _folder(root: Path) -> Path:
    """Four geotagged photos (one per format), one photo per defect, one without GPS."""
    root.mkdir()
    for i, fmt in enumerate(FORMATS):
        suffix = {"JPEG": "jpg", "HEIF": "heic"}.get(fmt, fmt.lower())
        (root / f"ok-{i}.{suffix}").write_bytes(geotagged(place_photo(i), fmt, *place_location(i)))
    defects = {
        "dark.jpg": Image.eval(place_photo(10), lambda v: v // 40),
        "blurred.jpg": place_photo(11).filter(ImageFilter.GaussianBlur(3)),
        "flat.jpg": Image.new("RGB", (320, 240), (128, 128, 128)),
    }
    for name, image in defects.items():
        (root / name).write_bytes(geotagged(image, "JPEG", *place_location(20)))
    good = geotagged(place_photo(12), "JPEG", *place_location(12))
    (root / "truncated.jpg").write_bytes(good[: len(good) // 2])
    (root / "no-gps.jpg").write_bytes(encode(place_photo(13)))
    return root


def _geopin(*args: str) -> Result:
    result = CliRunner().invoke(main, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


def test_a_folder_is_indexed_and_every_refused_photo_reported(
    env: dict[str, str], tmp_path: Path
) -> None:
    report = tmp_path / "report.jsonl"
    first = _geopin("index", "add", str(_folder(tmp_path / "photos")), "--report", str(report))
    assert first.exit_code == 0, first.output
    assert "indexed 4 photo(s), 0 already indexed, 5 refused" in first.output
    records = [json.loads(line) for line in report.read_text().splitlines()]
    reasons = {record["id"]: record["reason"] for record in records}
    assert reasons == {
        "dark.jpg": "underexposed",
        "blurred.jpg": "blurred",
        "flat.jpg": "low-information",
        "truncated.jpg": "corrupt",
        "no-gps.jpg": "no-coordinates",
    }
    again = _geopin("index", "add", str(tmp_path / "photos"), "--report", str(report))
    assert "indexed 0 photo(s), 4 already indexed, 5 refused" in again.output
    assert "now holds 4 photo(s)" in again.output


def test_a_distributed_load_runs_on_the_embedding_workers(
    env: dict[str, str], tmp_path: Path
) -> None:
    worker = start_embedder(env, tmp_path)
    try:
        report = tmp_path / "report.jsonl"
        folder = _folder(tmp_path / "photos")
        result = _geopin("index", "add", str(folder), "--distributed", "--report", str(report))
    finally:
        worker.stop()
    assert result.exit_code == 0, result.output + worker.log_tail()
    assert "indexed 4 photo(s), 0 already indexed, 5 refused" in result.output
    assert len(report.read_text().splitlines()) == 5


def test_rebuild_swaps_to_a_new_version_and_prune_removes_the_old(
    env: dict[str, str], tmp_path: Path
) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(2):
        (folder / f"{i}.jpg").write_bytes(geotagged(place_photo(i), "JPEG", *place_location(i)))
    alias = env["GEOPIN_ELASTICSEARCH__INDEX"]
    report = str(tmp_path / "report.jsonl")
    assert _geopin("index", "add", str(folder), "--report", report).exit_code == 0
    rebuilt = _geopin("index", "rebuild", str(folder), "--report", report)
    assert rebuilt.exit_code == 0, rebuilt.output
    assert f"alias {alias} now points at {alias}-" in rebuilt.output
    listed = _geopin("index", "list").output.splitlines()
    assert [line[:2] for line in listed] == ["  ", "* "]
    assert all("2 photo(s)" in line for line in listed)
    pruned = _geopin("index", "prune", "--yes")
    assert pruned.output.startswith(f"deleted {alias}-")
    assert len(_geopin("index", "list").output.splitlines()) == 1
