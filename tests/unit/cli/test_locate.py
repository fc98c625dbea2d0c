"""`geopin locate`: a summary for one photo, a table or a resumable file for many.

Against a stand-in gateway over real HTTP (tests/support/fake_gateway.py); the command runs
on `geopin up` in tests/integration/test_locate_folder.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from geopin.cli import main

from tests.support.fake_gateway import FakeGateway


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    for n in range(1, 6):
        (folder / f"p{n}.jpg").write_bytes(b"place %d" % n)
    return folder


def _locate(url: str, *args: str) -> Result:
    return CliRunner().invoke(main, ["locate", "--url", url, *args])


def test_one_photo_gets_a_short_summary_of_where_how_sure_and_the_best_match(
    url: str, photos: Path
) -> None:
    result = _locate(url, str(photos / "p3.jpg"))
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        f"{photos / 'p3.jpg'}: 3.000000, 4.000000, within 25 m (confidence 0.80)\n"
        "best match: ref-3 (score 0.900), 0 m from the estimate\n"
    )


def test_one_photo_with_json_prints_the_whole_job(url: str, photos: Path) -> None:
    result = _locate(url, str(photos / "p3.jpg"), "--json")
    assert result.exit_code == 0, result.output
    job = json.loads(result.stdout)
    assert job["status"] == "succeeded"
    assert job["result"]["matches"][0]["id"] == "ref-3"


def test_one_refused_photo_is_a_one_line_error(url: str, tmp_path: Path) -> None:
    (tmp_path / "bad.jpg").write_bytes(b"bad")
    result = _locate(url, str(tmp_path / "bad.jpg"))
    assert result.exit_code == 1
    assert result.output == "Error: unsupported-image-type: unsupported-image-type\n"


def test_a_folder_gets_a_table_row_per_photo_and_a_count(
    url: str, photos: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(photos.parent)
    result = _locate(url, "photos")
    assert result.exit_code == 0, result.output
    header, *rows = result.stdout.splitlines()
    assert header.split()[:3] == ["PHOTO", "STATUS", "LAT"]
    assert sorted(row.split()[0] for row in rows) == [f"photos/p{n}.jpg" for n in range(1, 6)]
    assert all(row.split()[1] == "succeeded" for row in rows)
    assert "5 of 5 photo(s) answered: 5 located, 0 failed" in result.stderr


def test_a_rerun_with_the_same_output_asks_only_for_photos_not_answered_yet(
    gateway: FakeGateway, url: str, photos: Path, tmp_path: Path
) -> None:
    (photos / "p6.jpg").write_bytes(b"fail")  # its job fails: worth asking again
    out = tmp_path / "answers.jsonl"
    first = _locate(url, str(photos), "-o", str(out))
    assert first.exit_code == 1
    assert "1 photo(s) failed for a reason other than the photo itself" in first.output
    assert gateway.submissions == 6

    (photos / "p6.jpg").write_bytes(b"place 6")
    second = _locate(url, str(photos), "-o", str(out))
    assert second.exit_code == 0, second.output
    assert "5 photo(s) already answered" in second.stderr
    assert gateway.submissions == 7
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(row["photo"] for row in rows) == [str(photos / f"p{n}.jpg") for n in range(1, 7)]
    assert {row["status"] for row in rows} == {"succeeded"}


def test_the_output_format_follows_the_file_name(url: str, photos: Path, tmp_path: Path) -> None:
    out = tmp_path / "answers.geojson"
    assert _locate(url, str(photos), "-o", str(out)).exit_code == 0
    assert len(json.loads(out.read_text())["features"]) == 5


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--json"], "--json prints one photo's job"),
        (["--format", "csv"], "--format says how to write --output FILE"),
        (["-o", "answers.txt"], "say --format for answers.txt"),
    ],
)
def test_options_that_do_not_fit_are_a_usage_error(
    url: str,
    photos: Path,
    args: list[str],
    message: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    result = _locate(url, str(photos), *args)
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--url", "not-a-url"], "Error: cannot talk to GeoPin at not-a-url: "),
        (["-o", "missing/answers.csv"], "Error: cannot write missing/answers.csv: "),
    ],
)
def test_a_bad_url_or_output_is_a_one_line_error(
    url: str, photos: Path, args: list[str], message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(photos)
    result = CliRunner().invoke(main, ["locate", "--url", url, "p1.jpg", "p2.jpg", *args])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.splitlines()[-1].startswith(message)
    assert "Traceback" not in result.output
