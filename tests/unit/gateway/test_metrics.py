"""The gateway's /metrics: requests counted by route template, latency, queue depths."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from geopin.metrics import QueueDepths
from geopin.settings import Mode, Settings
from geopin.supervisor import RestartCounts
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
