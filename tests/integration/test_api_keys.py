"""API keys, rate limits and backpressure at the gateway, against the real Redis."""

from __future__ import annotations

import pytest
import redis
from flask.testing import FlaskClient
from geopin.settings import Settings
from geopin.wiring import key_store
from geopin_gateway.app import create_app

from tests.support.factories import encode, place_photo

JPEG = encode(place_photo(1))


def make_settings(redis_db: str, es_server: str, es_index: str, **groups: object) -> Settings:
    return Settings(
        redis={"url": redis_db}, elasticsearch={"url": es_server, "index": es_index}, **groups
    )


@pytest.fixture
def settings(redis_db: str, es_server: str, es_index: str) -> Settings:
    return make_settings(redis_db, es_server, es_index, auth={"enabled": True})


@pytest.fixture
def client(settings: Settings) -> FlaskClient:
    return create_app(settings).test_client()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def submit(client: FlaskClient, token: str | None, **query: str) -> tuple[int, dict[str, object]]:
    headers = bearer(token) if token else {}
    response = client.post(
        "/v1/jobs", data=JPEG, content_type="image/jpeg", headers=headers, query_string=query
    )
    return response.status_code, response.get_json()


@pytest.mark.parametrize(
    ("header", "code"),
    [
        (None, "missing-api-key"),
        ("Basic dXNlcjpwdw==", "missing-api-key"),
        ("Bearer ", "missing-api-key"),
        ("Bearer gpk_not-a-key", "invalid-api-key"),
    ],
    ids=["none", "basic", "empty", "unknown"],
)
def test_v1_without_a_valid_key_is_401_problem(
    client: FlaskClient, header: str | None, code: str
) -> None:
    headers = {"Authorization": header} if header else {}
    for response in (
        client.post("/v1/jobs", data=JPEG, content_type="image/jpeg", headers=headers),
        client.get("/v1/jobs/anything", headers=headers),
    ):
        assert response.status_code == 401
        assert response.mimetype == "application/problem+json"
        assert response.get_json()["code"] == code
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_probes_and_docs_need_no_key(client: FlaskClient) -> None:
    assert client.get("/healthz").status_code == 200
    assert client.get("/openapi.json").status_code == 200


def test_keys_are_stored_hashed(settings: Settings) -> None:
    token, key = key_store(settings).create("acme")
    stored = b"".join(
        redis.Redis.from_url(settings.redis.url).dump(k) or b""
        for k in redis.Redis.from_url(settings.redis.url).keys("geopin:apikey*")
    )
    assert token.encode() not in stored
    assert key.token_sha256.encode() in stored


def test_a_job_is_visible_only_to_its_own_key(client: FlaskClient, settings: Settings) -> None:
    keys = key_store(settings)
    mine, _ = keys.create("mine")
    theirs, _ = keys.create("theirs")
    status, body = submit(client, mine)
    assert status == 202
    job_url = f"/v1/jobs/{body['job_id']}"
    assert client.get(job_url, headers=bearer(mine)).status_code == 200
    other = client.get(job_url, headers=bearer(theirs))
    assert other.status_code == 404
    assert other.get_json()["code"] == "job-not-found"
    assert client.post(job_url + "/redeliver", headers=bearer(theirs)).status_code == 404


def test_revoked_key_is_403(client: FlaskClient, settings: Settings) -> None:
    keys = key_store(settings)
    token, key = keys.create("leaked")
    keys.revoke(key.key_id)
    status, body = submit(client, token)
    assert status == 403
    assert body["code"] == "api-key-revoked"


# With keys on, limits hold wherever the gateway is bound, loopback included.
@pytest.mark.parametrize("bind_host", [None, "127.0.0.1"])
def test_rate_limit_is_per_key_and_answers_429_with_retry_after(
    redis_db: str, es_server: str, es_index: str, bind_host: str | None
) -> None:
    limits = {"submit": "2/minute", "bind_host": bind_host}
    settings = make_settings(redis_db, es_server, es_index, auth={"enabled": True}, limits=limits)
    client = create_app(settings).test_client()
    keys = key_store(settings)
    busy, _ = keys.create("busy")
    calm, _ = keys.create("calm")
    assert [submit(client, busy)[0] for _ in range(2)] == [202, 202]
    response = client.post("/v1/jobs", data=JPEG, content_type="image/jpeg", headers=bearer(busy))
    assert response.status_code == 429
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["code"] == "rate-limited"
    assert 0 < int(response.headers["Retry-After"]) <= 60
    assert submit(client, calm)[0] == 202  # another key has its own budget


def test_full_embed_queue_answers_503_with_retry_after_and_stores_nothing(
    redis_db: str, es_server: str, es_index: str
) -> None:
    settings = make_settings(
        redis_db, es_server, es_index, limits={"max_queued_jobs": 2, "retry_after_s": 7}
    )
    client = create_app(settings).test_client()
    assert [submit(client, None)[0] for _ in range(3)] == [202, 202, 202]  # 3 > 2 now
    r = redis.Redis.from_url(redis_db)
    jobs_before = len(r.keys("geopin:job:*"))
    response = client.post("/v1/jobs", data=JPEG, content_type="image/jpeg")
    assert response.status_code == 503
    assert response.get_json()["code"] == "queue-full"
    assert response.headers["Retry-After"] == "7"
    assert len(r.keys("geopin:job:*")) == jobs_before
    r.delete("embed")  # the workers caught up
    assert submit(client, None)[0] == 202
