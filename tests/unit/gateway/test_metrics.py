"""The gateway's /metrics: requests counted by route template, latency, queue depths, and the
job health the shared stores keep (stuck jobs, failures by code, redeliveries, orphans)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from flask import Flask
from geopin.jobs import StoreUnavailable
from geopin.liveness import REDELIVERIES
from geopin.metrics import JobHealth, QueueDepths
from geopin.settings import Mode, Settings
from geopin.supervisor import RestartCounts
from geopin.wiring import job_store, liveness
from geopin_gateway.app import create_app
from PIL import Image
from prometheus_client import REGISTRY

from tests.support.factories import encode


@pytest.fixture
def app(tmp_path: Path) -> Flask:
    # Embedded backends in a temporary folder: a real queue and job store, no server.
    app = create_app(Settings(mode=Mode.EMBEDDED, data_dir=tmp_path))
    app.extensions["geopin-queue-depths"] = QueueDepths(
        {"embed": 7, "search": 2, "webhooks": 0}.get
    )
    return app


def _count(route: str, status: str) -> float:
    labels = {"route": route, "method": "GET", "status": status}
    return REGISTRY.get_sample_value("geopin_http_requests_total", labels) or 0.0


def test_requests_are_counted_by_route_template_and_status(app: Flask) -> None:
    client = app.test_client()
    before = _count("/v1/jobs/<job_id>", "404")
    client.get("/v1/jobs/not-a-job")
    client.get("/v1/jobs/another-one")
    assert _count("/v1/jobs/<job_id>", "404") == before + 2


def test_metrics_expose_latency_and_the_queue_depths_read_at_scrape_time(app: Flask) -> None:
    client = app.test_client()
    client.get("/healthz")
    text = client.get("/metrics").get_data(as_text=True)
    assert 'geopin_queue_length{queue="embed"} 7.0' in text
    assert 'geopin_queue_length{queue="search"} 2.0' in text
    assert 'geopin_http_request_duration_seconds_count{method="GET",route="/healthz"}' in text


def test_a_broker_that_cannot_be_read_does_not_break_the_scrape(app: Flask) -> None:
    def unreachable(queue: str) -> int:
        raise ConnectionError(queue)

    app.extensions["geopin-queue-depths"] = QueueDepths(unreachable)
    response = app.test_client().get("/metrics")
    assert response.status_code == 200
    assert "geopin_queue_length{" not in response.get_data(as_text=True)


def test_a_submission_is_counted_and_its_queue_read_from_the_real_broker(tmp_path: Path) -> None:
    app = create_app(Settings(mode=Mode.EMBEDDED, data_dir=tmp_path))
    client = app.test_client()
    photo = encode(Image.new("RGB", (64, 48), "teal"))
    response = client.post("/v1/jobs", data=photo, content_type="image/jpeg")
    assert response.status_code == 202
    text = client.get("/metrics").get_data(as_text=True)
    assert 'geopin_queue_length{queue="embed"} 1.0' in text


def test_job_health_shows_the_oldest_running_job_failures_and_faults(tmp_path: Path) -> None:
    settings = Settings(mode=Mode.EMBEDDED, data_dir=tmp_path)
    app = create_app(settings)
    store, faults = job_store(settings), liveness(settings)
    stuck, failed = store.create(b"photo", 3), store.create(b"photo", 3)
    store.mark_running(stuck.job_id)
    store.mark_running(failed.job_id)
    store.fail(failed.job_id, "index-unavailable", "the index did not answer")
    faults.count(REDELIVERIES, 2)
    time.sleep(0.05)
    text = app.test_client().get("/metrics").get_data(as_text=True)
    age = float(re.search(r"^geopin_oldest_running_job_age_seconds (\S+)$", text, re.M)[1])  # type: ignore[index]
    assert 0.05 <= age < 60
    assert 'geopin_jobs_failed_total{code="index-unavailable"} 1.0' in text
    assert "geopin_task_redeliveries_total 2.0" in text
    assert "geopin_orphaned_tasks_requeued_total 0.0" in text
    store.succeed(stuck.job_id, {"matches": []})
    text = app.test_client().get("/metrics").get_data(as_text=True)
    assert "geopin_oldest_running_job_age_seconds 0.0" in text


def test_a_job_store_that_cannot_be_read_does_not_break_the_scrape(app: Flask) -> None:
    def unreachable() -> float | None:
        raise StoreUnavailable("SQLite: database is locked")

    app.extensions["geopin-job-health"] = JobHealth(unreachable, dict, dict)
    response = app.test_client().get("/metrics")
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert "geopin_oldest_running_job_age_seconds" not in text
    assert 'geopin_queue_length{queue="embed"} 7.0' in text


def test_restarts_counted_by_a_supervisor_are_reported_when_its_folder_is_set(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "restarts"
    RestartCounts(folder).record("embedder", 2)
    supervised = create_app(
        Settings(mode=Mode.EMBEDDED, data_dir=tmp_path, metrics={"restarts_dir": folder})
    )
    text = supervised.test_client().get("/metrics").get_data(as_text=True)
    assert 'geopin_supervisor_restarts_total{service="embedder"} 2.0' in text
    alone = create_app(Settings(mode=Mode.EMBEDDED, data_dir=tmp_path))
    assert "geopin_supervisor_restarts" not in alone.test_client().get("/metrics").get_data(
        as_text=True
    )


def test_the_gateway_imports_with_a_multiprocess_folder_that_does_not_exist_yet(
    tmp_path: Path,
) -> None:
    # The image points PROMETHEUS_MULTIPROC_DIR into a fresh tmpfs; a gunicorn worker imports
    # the app, and so defines every metric, before anything else could create the folder.
    folder = tmp_path / "prometheus"
    result = subprocess.run(
        [sys.executable, "-c", "import geopin_gateway.app"],
        env={**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(folder)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert folder.is_dir()
