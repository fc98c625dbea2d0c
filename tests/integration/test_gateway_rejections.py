"""Every rejected upload gets its status and problem document, and enqueues nothing."""

from __future__ import annotations

import pytest
import redis
from flask.testing import FlaskClient
from geopin.settings import Settings
from geopin_gateway.app import create_app

from tests.support.factories import bomb_png, encode, place_photo

MAX_UPLOAD = 200_000


@pytest.fixture
def settings(redis_db: str, es_server: str, es_index: str) -> Settings:
    return Settings(
        redis={"url": redis_db},
        elasticsearch={"url": es_server, "index": es_index},
        images={"max_upload_bytes": MAX_UPLOAD, "max_pixels": 4_000_000},
    )


@pytest.fixture
def client(settings: Settings) -> FlaskClient:
    return create_app(settings).test_client()


def _nothing_enqueued(settings: Settings) -> None:
    r = redis.Redis.from_url(settings.redis.url)
    assert r.llen("embed") == 0
    assert list(r.scan_iter("geopin:*")) == []


JPEG = encode(place_photo(1))
TRUNCATED_JPEG = JPEG[: len(JPEG) * 2 // 3]
# Over the limit by one byte; the size alone decides, before any decoding.
HUGE_JPEG = JPEG + b"\0" * (MAX_UPLOAD + 1 - len(JPEG))


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        (b"", "image/jpeg", 400, "empty-upload"),
        (b"just some text", "text/plain", 415, "unsupported-media-type"),
        (b"GIF89a not really a photo at all", "image/gif", 415, "unsupported-media-type"),
        (b"\x00\x01 random bytes, no image", "image/jpeg", 415, "unsupported-image-type"),
        (encode(place_photo(3), "GIF"), "image/png", 415, "unsupported-image-type"),
        (TRUNCATED_JPEG, "image/jpeg", 400, "undecodable-image"),
        (bomb_png(), "image/png", 400, "image-too-many-pixels"),
        (HUGE_JPEG, "image/jpeg", 413, "upload-too-large"),
    ],
    ids=["empty", "text", "fake-gif", "random-bytes", "gif", "truncated-jpeg", "bomb", "oversized"],
)
def test_rejected_raw_upload_answers_problem_and_enqueues_nothing(
    client: FlaskClient,
    settings: Settings,
    body: bytes,
    content_type: str,
    status: int,
    code: str,
) -> None:
    assert len(HUGE_JPEG) > MAX_UPLOAD
    response = client.post("/v1/jobs", data=body, content_type=content_type)
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    problem = response.get_json()
    assert problem["code"] == code
    assert problem["status"] == status
    assert problem["detail"]
    _nothing_enqueued(settings)


@pytest.mark.parametrize(
    ("form", "status", "code"),
    [
        ({}, 400, "missing-image"),
        ({"image": (TRUNCATED_JPEG, "photo.jpg")}, 400, "undecodable-image"),
        ({"image": (HUGE_JPEG, "photo.jpg")}, 413, "upload-too-large"),
        ({"image": (JPEG, "photo.jpg"), "top_k": "0"}, 400, "invalid-top-k"),
        ({"image": (JPEG, "photo.jpg"), "top_k": "101"}, 400, "invalid-top-k"),
        ({"image": (JPEG, "photo.jpg"), "top_k": "ten"}, 400, "invalid-top-k"),
    ],
    ids=["no-field", "truncated", "oversized", "top-k-zero", "top-k-too-big", "top-k-text"],
)
def test_rejected_multipart_upload_answers_problem_and_enqueues_nothing(
    client: FlaskClient, settings: Settings, form: dict[str, object], status: int, code: str
) -> None:
    import io

    data = {k: (io.BytesIO(v[0]), v[1]) if isinstance(v, tuple) else v for k, v in form.items()}
    response = client.post("/v1/jobs", data=data, content_type="multipart/form-data")
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["code"] == code
    _nothing_enqueued(settings)


def test_unknown_job_id_is_404_problem(client: FlaskClient) -> None:
    response = client.get("/v1/jobs/no-such-job")
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["code"] == "job-not-found"


def test_accepted_upload_answers_202_with_location_and_queues_one_task(
    client: FlaskClient, settings: Settings
) -> None:
    response = client.post("/v1/jobs", data=JPEG, content_type="image/jpeg")
    assert response.status_code == 202
    body = response.get_json()
    assert body["status"] == "queued"
    assert response.headers["Location"] == body["links"]["self"] == f"/v1/jobs/{body['job_id']}"
    assert len(body["job_id"]) >= 32  # 192 random bits, URL-safe base64
    assert redis.Redis.from_url(settings.redis.url).llen("embed") == 1
    polled = client.get(body["links"]["self"]).get_json()
    assert polled["status"] == "queued"
    assert "result" not in polled
    assert "error" not in polled


def test_readiness_names_the_missing_embedding_model(client: FlaskClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 503
    checks = response.get_json()["checks"]
    assert {role: check["backend"] for role, check in checks.items()} == {
        "queue": "redis",
        "jobs": "redis",
        "index": "elasticsearch",
        "model": "redis",
    }
    assert checks["queue"]["ok"] is checks["jobs"]["ok"] is True
    assert checks["model"]["ok"] is False
    assert "no embedding worker" in checks["model"]["error"]


def test_liveness_needs_no_dependency(client: FlaskClient) -> None:
    assert client.get("/healthz").get_json() == {"status": "ok"}
