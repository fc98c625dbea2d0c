"""Each /v1 view carries its limit, from the settings; a breach is a 429 problem.

Embedded backends: the limiter counts in memory, as it does for an embedded gateway.
"""

from __future__ import annotations

from pathlib import Path

from flask.testing import FlaskClient
from geopin.settings import Mode, Settings
from geopin_gateway.app import create_app


def _client(tmp_path: Path, **limits: object) -> FlaskClient:
    settings = Settings(mode=Mode.EMBEDDED, data_dir=tmp_path, limits=limits)
    return create_app(settings).test_client()


def test_reads_over_the_limit_answer_429_with_retry_after(tmp_path: Path) -> None:
    client = _client(tmp_path, read="2/minute")
    assert [client.get("/v1/jobs/some-job").status_code for _ in range(2)] == [404, 404]
    response = client.get("/v1/jobs/some-job")
    assert response.status_code == 429
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["code"] == "rate-limited"
    assert 0 < int(response.headers["Retry-After"]) <= 60


def test_each_view_is_counted_under_its_own_limit(tmp_path: Path) -> None:
    client = _client(tmp_path, read="1/minute", submit="3/minute")
    assert client.get("/v1/jobs/a").status_code == 404
    assert client.get("/v1/references/a/thumbnail").status_code == 404  # its own count
    assert client.get("/v1/jobs/a").status_code == 429
    assert client.get("/v1/references/a/thumbnail").status_code == 429
    redeliveries = [client.post("/v1/jobs/a/redeliver").status_code for _ in range(4)]
    assert redeliveries == [404, 404, 404, 429]


def test_probes_and_documents_are_never_limited(tmp_path: Path) -> None:
    client = _client(tmp_path, read="1/minute", submit="1/minute")
    for path in ("/healthz", "/openapi.json", "/docs"):
        assert {client.get(path).status_code for _ in range(3)} == {200}


def test_limits_can_be_switched_off(tmp_path: Path) -> None:
    client = _client(tmp_path, enabled=False, read="1/minute")
    assert {client.get("/v1/jobs/a").status_code for _ in range(3)} == {404}
