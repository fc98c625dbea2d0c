"""Every refusal is a problem document with a catalogued code, the framework's own included."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from geopin.errors import error_code
from geopin.settings import Mode, Settings
from geopin_gateway.app import create_app


@pytest.fixture
def app(tmp_path: Path) -> Flask:
    return create_app(Settings(mode=Mode.EMBEDDED, data_dir=tmp_path))


def _assert_catalogued_problem(response: object, code: str) -> None:
    from werkzeug.test import TestResponse

    assert isinstance(response, TestResponse)
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    entry = error_code(code)
    assert (body["code"], body["status"], body["title"]) == (code, entry.status, entry.title)
    assert response.status_code == entry.status
    assert body["type"] == f"urn:geopin:problem:{code}"


def test_an_unknown_route_is_a_not_found_problem(app: Flask) -> None:
    _assert_catalogued_problem(app.test_client().get("/v2/anything"), "not-found")


def test_a_method_a_route_does_not_take_is_a_problem_naming_those_it_does(app: Flask) -> None:
    response = app.test_client().delete("/v1/jobs")
    _assert_catalogued_problem(response, "method-not-allowed")
    assert "POST" in response.headers["Allow"]


def test_a_failure_nobody_expected_is_an_internal_error_without_details(app: Flask) -> None:
    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError("secret detail")

    response = app.test_client().get("/boom")
    _assert_catalogued_problem(response, "internal-error")
    assert "secret" not in response.get_data(as_text=True)


def test_a_raw_body_of_another_type_names_the_accepted_ones(app: Flask) -> None:
    response = app.test_client().post("/v1/jobs", data=b"GIF89a", content_type="image/gif")
    _assert_catalogued_problem(response, "unsupported-media-type")
    assert "image/heif" in response.get_json()["detail"]
