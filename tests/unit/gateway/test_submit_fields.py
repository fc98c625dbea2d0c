"""A submission's fields are read exactly as the OpenAPI document states them."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from flask import Flask
from geopin.settings import Mode, Settings
from geopin_gateway.app import create_app
from PIL import Image

from tests.support.factories import encode

PHOTO = encode(Image.new("RGB", (32, 24), "teal"))


@pytest.fixture
def app(tmp_path: Path) -> Flask:
    return create_app(Settings(mode=Mode.EMBEDDED, data_dir=tmp_path))


def _submit(app: Flask, query: str = "", **form: str) -> tuple[int, dict[str, object]]:
    data = {"image": (io.BytesIO(PHOTO), "photo.jpg"), **form}
    response = app.test_client().post(
        f"/v1/jobs{query}", data=data, content_type="multipart/form-data"
    )
    return response.status_code, response.get_json()


def test_a_field_sent_both_ways_is_taken_from_the_form(app: Flask) -> None:
    status, body = _submit(app, "?top_k=7", top_k="5")
    assert status == 202
    assert app.extensions["geopin"].store.get(body["job_id"]).top_k == 5


@pytest.mark.parametrize(
    ("query", "form"),
    [("?top_k=abc", {"top_k": "5"}), ("?top_k=5", {"top_k": ""}), ("?bbox=1,2", {})],
    ids=["bad-query", "empty-form", "bad-query-area"],
)
def test_a_field_sent_both_ways_must_be_valid_both_ways(
    app: Flask, query: str, form: dict[str, str]
) -> None:
    status, body = _submit(app, query, **form)
    assert status == 400
    assert body["code"] in ("invalid-top-k", "invalid-geo-filter")


ARABIC_INDIC_FIVE = "\u0665"  # int() reads it as 5


@pytest.mark.parametrize(
    "top_k", [" 5", "+5", "5.0", "1_0", ARABIC_INDIC_FIVE, "0", "101", "9" * 5000]
)
def test_top_k_is_a_plain_integer_in_range(app: Flask, top_k: str) -> None:
    status, body = _submit(app, top_k=top_k)
    assert (status, body["code"]) == (400, "invalid-top-k")


@pytest.mark.parametrize("bbox", ["1e1,4,53,5", "+52,4,53,5", "52, 4,53,5", ".5,4,53,5"])
def test_area_numbers_are_plain_decimals(app: Flask, bbox: str) -> None:
    status, body = _submit(app, bbox=bbox)
    assert (status, body["code"]) == (400, "invalid-geo-filter")


def test_a_plain_area_and_top_k_are_accepted(app: Flask) -> None:
    status, body = _submit(app, "?center=52.37,-4.9&radius_m=1500.5", top_k="100")
    assert status == 202, body
    job = app.extensions["geopin"].store.get(body["job_id"])
    assert job.top_k == 100
    assert job.geo_filter == {"type": "circle", "lat": 52.37, "lon": -4.9, "radius_m": 1500.5}
