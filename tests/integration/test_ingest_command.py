"""`geopin index add/rebuild/list/prune` against the real Elasticsearch (and, distributed, a
real embedding worker); the thumbnails it keeps, served by a real gateway."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner, Result
from geopin.cli import main
from geopin.images import decode_with_exif
from geopin.thumbnails import thumbnail_jpeg
from PIL import Image, ImageFilter

from tests.support.factories import encode, geotagged, place_location, place_photo
from tests.support.stack import delete_indices, start_embedder, start_gateway

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


def _one_photo(folder: Path, seed: int) -> Path:
    """A folder holding one photo, ``place.jpg`` (so its ID), of place 0."""
    folder.mkdir()
    (folder / "place.jpg").write_bytes(geotagged(place_photo(seed), "JPEG", *place_location(0)))
    return folder


def _thumbnail_of(photo: Path) -> bytes:
    image, _ = decode_with_exif(photo.read_bytes(), 10**8)
    return thumbnail_jpeg(image, 256)


def test_a_photo_under_a_taken_id_is_refused_or_replaces_it_and_its_thumbnail(
    env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = _one_photo(tmp_path / "first", 1), _one_photo(tmp_path / "second", 2)
    report = tmp_path / "report.jsonl"
    workdir = tmp_path / "workdir"  # where ingestion runs: it must write nothing there
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    assert (
        "indexed 1 photo(s)" in _geopin("index", "add", str(first), "--report", str(report)).output
    )
    gateway, url = start_gateway(env, tmp_path)  # another process, reading the index
    try:
        thumbnail = f"{url}/v1/references/place.jpg/thumbnail"
        shown = requests.get(thumbnail, timeout=10)
        assert (shown.status_code, shown.content) == (200, _thumbnail_of(first / "place.jpg"))
        revalidate = {"If-None-Match": shown.headers["ETag"]}

        refused = _geopin("index", "add", str(second), "--report", str(report))
        assert "indexed 0 photo(s), 0 already indexed, 1 refused" in refused.output
        assert json.loads(report.read_text())["reason"] == "id-taken"
        assert requests.get(thumbnail, headers=revalidate, timeout=10).status_code == 304

        replaced = _geopin("index", "add", str(second), "--replace", "--report", str(report))
        assert "indexed 1 photo(s) (1 in place of another photo)" in replaced.output
        assert "now holds 1 photo(s)" in replaced.output
        changed = requests.get(thumbnail, headers=revalidate, timeout=10)
        assert (changed.status_code, changed.content) == (200, _thumbnail_of(second / "place.jpg"))
    finally:
        gateway.stop()
    again = _geopin("index", "add", str(second), "--report", str(report))
    assert "indexed 0 photo(s), 1 already indexed, 0 refused" in again.output
    assert list(workdir.iterdir()) == []


def test_a_distributed_load_gives_an_id_to_the_first_of_its_photos(
    env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GEOPIN_INGEST__TASK_SIZE", "1")  # each photo its own task
    rows = ["path,lat,lon,id"]
    for seed, reference_id in [(1, "x"), (2, "y"), (3, "x"), (4, "x")]:
        (tmp_path / f"{seed}.jpg").write_bytes(encode(place_photo(seed)))
        lat, lon = place_location(seed)
        rows.append(f"{seed}.jpg,{lat},{lon},{reference_id}")
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("\n".join(rows) + "\n")
    report = tmp_path / "report.jsonl"
    worker = start_embedder(env, tmp_path)
    try:
        result = _geopin("index", "add", str(manifest), "--distributed", "--report", str(report))
    finally:
        worker.stop()
    assert result.exit_code == 0, result.output + worker.log_tail()
    assert "indexed 2 photo(s), 0 already indexed, 2 refused" in result.output
    assert "now holds 2 photo(s)" in result.output
    records = [json.loads(line) for line in report.read_text().splitlines()]
    assert sorted((r["path"].rsplit("/", 1)[1], r["reason"]) for r in records) == [
        ("3.jpg", "repeated-id"),
        ("4.jpg", "repeated-id"),
    ]
