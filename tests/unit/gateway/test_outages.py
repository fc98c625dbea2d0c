"""Backends that do not answer: 503 with Retry-After from every route, in both modes.

Servers mode points at ports where nothing listens (what a client of a stopped server
sees); embedded mode at SQLite files that cannot be opened. tests/integration/test_outages.py
stops real servers and locks real files.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from geopin.settings import Mode, Settings
from geopin_gateway.app import create_app
from werkzeug.test import TestResponse

from tests.support.factories import encode, place_photo

RETRY_AFTER_S = 7
JPEG = encode(place_photo(1))


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _servers_down(**groups: Any) -> Settings:
    return Settings(
        redis={"url": f"redis://127.0.0.1:{_closed_port()}"},
        elasticsearch={"url": f"http://127.0.0.1:{_closed_port()}"},
        limits={"retry_after_s": RETRY_AFTER_S},
        **groups,
    )


def _files_unusable(tmp_path: Path) -> Settings:
    for name in ("jobs.db", "queue.db", "index.db"):
        (tmp_path / name).mkdir()  # a folder where SQLite expects its file
    return Settings(mode=Mode.EMBEDDED, data_dir=tmp_path, limits={"retry_after_s": RETRY_AFTER_S})


@pytest.fixture(params=["servers", "embedded"])
def client(request: pytest.FixtureRequest, tmp_path: Path) -> FlaskClient:
    settings = _servers_down() if request.param == "servers" else _files_unusable(tmp_path)
    return create_app(settings).test_client()


def _assert_outage(response: TestResponse, code: str) -> None:
    assert response.status_code == 503, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    assert response.headers["Retry-After"] == str(RETRY_AFTER_S)
    problem = response.get_json()
    assert problem["code"] == code
    assert problem["detail"].endswith(f"try again in {RETRY_AFTER_S} s")


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/v1/jobs"), ("GET", "/v1/jobs/some-job"), ("POST", "/v1/jobs/some-job/redeliver")],
)
def test_job_routes_answer_queue_unavailable(client: FlaskClient, method: str, path: str) -> None:
    response = client.open(path, method=method, data=JPEG, content_type="image/jpeg")
    _assert_outage(response, "queue-unavailable")


def test_liveness_stays_ok_and_readiness_names_every_role_that_is_down(
    client: FlaskClient,
) -> None:
    assert client.get("/healthz").status_code == 200
    response = client.get("/readyz")
    assert response.status_code == 503
    checks = response.get_json()["checks"]
    assert {role: (c["ok"], c.get("code")) for role, c in checks.items()} == {
        "queue": (False, "queue-unavailable"),
        "jobs": (False, "queue-unavailable"),
        "index": (False, "index-unavailable"),
        "model": (False, "queue-unavailable"),
    }
    assert all(c["error"] for c in checks.values())


def test_the_api_key_lookup_answers_queue_unavailable_when_redis_is_down() -> None:
    client = create_app(_servers_down(auth={"enabled": True})).test_client()
    response = client.get("/v1/jobs/some-job", headers={"Authorization": "Bearer gpk_anything"})
    _assert_outage(response, "queue-unavailable")
