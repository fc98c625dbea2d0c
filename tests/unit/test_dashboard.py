"""The Grafana dashboard asks only for metrics the code defines."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.metric_names import defined, used

DASHBOARD = Path(__file__).resolve().parents[2] / "k8s" / "grafana" / "geopin.json"


def test_every_panel_queries_only_metrics_the_code_defines() -> None:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    asked = used(target["expr"] for panel in panels for target in panel["targets"])
    assert asked
    assert asked <= defined(), f"unknown metrics: {sorted(asked - defined())}"


def test_the_dashboard_covers_requests_stages_batches_failures_queues_and_stuck_jobs() -> None:
    text = DASHBOARD.read_text()
    for name in (
        "geopin_http_requests_total",
        "geopin_http_request_duration_seconds_bucket",
        "geopin_task_duration_seconds_bucket",
        "geopin_embed_batch_size",
        "geopin_task_failures_total",
        "geopin_model_load_seconds",
        "geopin_queue_length",
        "geopin_oldest_running_job_age_seconds",
        "geopin_task_redeliveries_total",
        "geopin_orphaned_tasks_requeued_total",
        'geopin_jobs_failed_total{code=\\"index-unavailable\\"}',
    ):
        assert name in text, name
