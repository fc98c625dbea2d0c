"""Real outages behind a real gateway: Redis stopped, SQLite files locked, Elasticsearch stopped.

Each backend that does not answer gives 503 with Retry-After (``queue-unavailable`` for the
job store and the queue, ``index-unavailable`` for the index), /healthz stays 200 so no
orchestrator restarts a healthy gateway, /readyz names the role that is down, and the
gateway serves again by itself once the backend is back.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import requests
from geopin.geo import LatLon
from geopin.index import IndexUnavailable, Reference
from geopin.index.embedded import EmbeddedIndex
from geopin.index.embedded_schema import SCHEMA
from geopin.settings import Settings
from geopin.sqlite import BUSY_TIMEOUT_S, Database
from geopin.wiring import job_store, vector_index
from geopin_gateway.app import create_app

from tests.support.elasticsearch import OwnElasticsearch, started_elasticsearch
from tests.support.factories import encode, place_photo
from tests.support.stack import (
    RedisServer,
    start_gateway,
    write_locked,
)

JPEG = encode(place_photo(1))
RETRY_AFTER_S = 3
MODEL = "c" * 64
# The guard's one opening for a loopback callback; no notifier runs, so nothing calls it.
WEBHOOKS = {
    "GEOPIN_WEBHOOKS__SECRET": "whsec_outage-tests",
    "GEOPIN_WEBHOOKS__INSECURE_ALLOW_NETWORKS": '["127.0.0.1/32"]',
}


def _submit(url: str, **query: str) -> requests.Response:
    return requests.post(
        f"{url}/v1/jobs",
        data=JPEG,
        headers={"Content-Type": "image/jpeg"},
        params=query,
        timeout=30,
    )


def _assert_outage(response: requests.Response, code: str) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.headers["Retry-After"] == str(RETRY_AFTER_S)
    assert response.json()["code"] == code


def _readiness(url: str) -> tuple[int, dict[str, dict[str, object]]]:
    response = requests.get(f"{url}/readyz", timeout=30)
    return response.status_code, response.json()["checks"]


def test_redis_stopped_answers_503_queue_unavailable_until_it_is_back(
    base_env: dict[str, str], tmp_path: Path
) -> None:
    server = RedisServer(tmp_path / "redis")
    server.start()
    env = {
        **base_env,
        **WEBHOOKS,
        "GEOPIN_REDIS__URL": server.url,
        "GEOPIN_LIMITS__RETRY_AFTER_S": str(RETRY_AFTER_S),
    }
    gateway, url = start_gateway(env, tmp_path)
    try:
        submitted = _submit(url, callback_url="http://127.0.0.1:9/hook")
        assert submitted.status_code == 202, submitted.text
        job_url = url + submitted.headers["Location"]
        job_id = submitted.json()["job_id"]
        # Ended, so that redelivery has something to send once Redis is back.
        job_store(Settings(redis={"url": server.url})).fail(job_id, "timeout", "ended here")

        with server.down():
            _assert_outage(requests.get(job_url, timeout=30), "queue-unavailable")
            _assert_outage(_submit(url), "queue-unavailable")
            _assert_outage(requests.post(f"{job_url}/redeliver", timeout=30), "queue-unavailable")
            assert requests.get(f"{url}/healthz", timeout=30).status_code == 200
            status, checks = _readiness(url)
            assert status == 503
            for role in ("queue", "jobs", "model"):
                assert checks[role]["ok"] is False, checks
                assert checks[role]["backend"] == "redis"
                assert checks[role]["code"] == "queue-unavailable"

        assert requests.get(job_url, timeout=30).json()["status"] == "failed"
        assert requests.post(f"{job_url}/redeliver", timeout=30).status_code == 202
        assert _submit(url).status_code == 202
        _, checks = _readiness(url)
        assert checks["queue"]["ok"] is checks["jobs"]["ok"] is True, checks
    finally:
        gateway.stop()
        server.kill()


def _count_jobs(data: Path) -> int:
    with sqlite3.connect(data / "jobs.db") as conn:
        return int(conn.execute("SELECT count(*) FROM jobs").fetchone()[0])


def test_locked_sqlite_files_answer_503_queue_unavailable_within_seconds(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {
        "GEOPIN_MODE": "embedded",
        "GEOPIN_DATA_DIR": str(data),
        "GEOPIN_LIMITS__RETRY_AFTER_S": str(RETRY_AFTER_S),
    }
    gateway, url = start_gateway(env, tmp_path)
    try:
        submitted = _submit(url)
        assert submitted.status_code == 202, submitted.text
        job_url = url + submitted.headers["Location"]

        with write_locked(data / "jobs.db"):
            started = time.monotonic()
            _assert_outage(_submit(url), "queue-unavailable")
            assert time.monotonic() - started < BUSY_TIMEOUT_S + 3
            # WAL: reads go on while another process holds the write lock.
            assert requests.get(job_url, timeout=30).json()["status"] == "queued"
            assert requests.get(f"{url}/healthz", timeout=30).status_code == 200
            status, checks = _readiness(url)
            assert status == 503
            assert (checks["jobs"]["ok"], checks["jobs"]["backend"]) == (False, "sqlite")
            assert checks["jobs"]["code"] == "queue-unavailable"
        assert _submit(url).status_code == 202

        jobs_before = _count_jobs(data)
        with write_locked(data / "queue.db"):
            _assert_outage(_submit(url), "queue-unavailable")
            _, checks = _readiness(url)
            assert (checks["queue"]["ok"], checks["queue"]["backend"]) == (False, "sqlite")
        assert _count_jobs(data) == jobs_before  # the job that could not be queued is gone
        assert _submit(url).status_code == 202
        _, checks = _readiness(url)
        assert checks["queue"]["ok"] is checks["jobs"]["ok"] is True, checks
    finally:
        gateway.stop()


def _reference(name: str) -> Reference:
    return Reference(name, LatLon(52.37, 4.90), np.array([1.0, 0.0], dtype=np.float32))


def test_a_locked_embedded_index_refuses_writes_with_index_unavailable(tmp_path: Path) -> None:
    index = EmbeddedIndex(Database(tmp_path / "index.db", SCHEMA), "outage-test")
    index.ensure(2, MODEL)
    index.add([_reference("before")], MODEL)
    with write_locked(tmp_path / "index.db"):
        with pytest.raises(IndexUnavailable, match="database is locked"):
            index.add([_reference("during")], MODEL)
        assert [m.id for m in index.search(np.array([1.0, 0.0]), 5, MODEL)] == ["before"]
    index.add([_reference("after")], MODEL)
    assert index.count() == 2


@pytest.fixture
def own_elasticsearch() -> Iterator[OwnElasticsearch]:
    with started_elasticsearch() as server:
        yield server


def test_elasticsearch_stopped_answers_index_unavailable(
    own_elasticsearch: OwnElasticsearch, redis_db: str
) -> None:
    settings = Settings(
        redis={"url": redis_db},
        elasticsearch={"url": own_elasticsearch.url, "index": "geopin-outage"},
    )
    index = vector_index(settings)
    index.ensure(2, MODEL)
    index.add([_reference("before")], MODEL)
    client = create_app(settings).test_client()
    assert client.get("/readyz").get_json()["checks"]["index"]["ok"] is True

    own_elasticsearch.stop()
    ready = client.get("/readyz")
    assert ready.status_code == 503
    check = ready.get_json()["checks"]["index"]
    assert (check["ok"], check["backend"], check["code"]) == (
        False,
        "elasticsearch",
        "index-unavailable",
    )
    assert client.get("/healthz").status_code == 200
    with pytest.raises(IndexUnavailable):
        index.search(np.array([1.0, 0.0]), 5, MODEL)
    with pytest.raises(IndexUnavailable):
        index.add([_reference("during")], MODEL)
