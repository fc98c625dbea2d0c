"""Files of answers: one row per photo, valid whenever a run stops, resumable."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from geopin.answers import Answer, BestMatch, Estimate
from geopin.cli.answer_files import COLUMNS, AnswerFile, AnswerFileError, Format

LOCATED = Answer(
    "a.jpg",
    "succeeded",
    "job-a",
    Estimate(52.37, 4.9, 25.0, 0.8),
    BestMatch("ref-1", 52.3701, 4.9001, 0.93),
)
REFUSED = Answer.failure("b.jpg", "undecodable-image", "cannot decode")
TIMED_OUT = Answer.failure("c.jpg", "wait-timeout", "still running", "job-c")


def _written(path: Path, format: Format, *answers: Answer) -> None:
    with AnswerFile(path, format) as out:
        for answer in answers:
            out.add(answer)


def _answered(path: Path, format: Format) -> set[str]:
    with AnswerFile(path, format) as out:
        return out.answered


@pytest.mark.parametrize("format", list(Format))
def test_a_reopened_file_keeps_final_answers_and_drops_those_worth_asking_again(
    tmp_path: Path, format: Format
) -> None:
    path = tmp_path / f"out.{format.value}"
    _written(path, format, LOCATED, REFUSED, TIMED_OUT)
    with AnswerFile(path, format) as reopened:
        assert reopened.answered == {"a.jpg", "b.jpg"}
        reopened.add(Answer.failure("c.jpg", "undecodable-image", "now it is broken"))
    assert _answered(path, format) == {"a.jpg", "b.jpg", "c.jpg"}


def test_csv_rows_carry_the_estimate_the_best_match_and_the_error(tmp_path: Path) -> None:
    path = tmp_path / "out.csv"
    _written(path, Format.CSV, LOCATED, REFUSED)
    rows = list(csv.DictReader(path.read_text().splitlines()))
    assert tuple(rows[0]) == COLUMNS
    assert rows[0] == {
        "photo": "a.jpg",
        "status": "succeeded",
        "lat": "52.37",
        "lon": "4.9",
        "radius_m": "25.0",
        "confidence": "0.8",
        "best_match": "ref-1",
        "best_score": "0.93",
        "error_code": "",
        "job_id": "job-a",
    }
    assert (rows[1]["status"], rows[1]["error_code"], rows[1]["lat"]) == (
        "failed",
        "undecodable-image",
        "",
    )


def test_geojson_is_a_feature_collection_of_points_in_lon_lat_order(tmp_path: Path) -> None:
    path = tmp_path / "out.geojson"
    _written(path, Format.GEOJSON, LOCATED, REFUSED)
    document = json.loads(path.read_text())
    assert document["type"] == "FeatureCollection"
    located, refused = document["features"]
    assert located["geometry"] == {"type": "Point", "coordinates": [4.9, 52.37]}
    assert located["properties"]["radius_m"] == 25.0
    assert refused["geometry"] is None  # RFC 7946: a feature without a place
    assert refused["properties"]["error_code"] == "undecodable-image"


def test_geojson_holds_every_answer_once_saved_and_only_then(tmp_path: Path) -> None:
    path = tmp_path / "out.geojson"
    with AnswerFile(path, Format.GEOJSON) as out:
        out.add(LOCATED)
        assert json.loads(path.read_text())["features"] == []  # still the last saved state
        out.save()
        assert len(json.loads(path.read_text())["features"]) == 1


@pytest.mark.parametrize("format", [Format.CSV, Format.JSONL])
def test_a_line_cut_off_mid_write_is_dropped_and_asked_again(
    tmp_path: Path, format: Format
) -> None:
    path = tmp_path / f"out.{format.value}"
    _written(path, format, LOCATED, Answer("d.jpg", "succeeded", "job-d"))
    whole = path.read_text()
    path.write_text(whole[: len(whole) - 10])  # a crash in the middle of the last line
    assert _answered(path, format) == {"a.jpg"}
    assert path.read_text().count("d.jpg") == 0


@pytest.mark.parametrize(
    ("format", "content"),
    [
        (Format.CSV, "name,lat\nx,1\n"),
        (Format.JSONL, '["not", "an", "answer"]\n'),
        (Format.GEOJSON, '{"type": "Point"}'),
    ],
)
def test_a_file_written_by_something_else_is_refused_untouched(
    tmp_path: Path, format: Format, content: str
) -> None:
    path = tmp_path / "theirs"
    path.write_text(content)
    with pytest.raises(AnswerFileError, match=r"not a \w+ file of `geopin locate`"):
        AnswerFile(path, format)
    assert path.read_text() == content
