"""The Grafana dashboard asks only for metrics the code defines."""

from __future__ import annotations

import json
import re
from pathlib import Path

from geopin.metrics import SCRAPED  # importing it defines GeoPin's metrics in the registry
from prometheus_client import REGISTRY

DASHBOARD = Path(__file__).resolve().parents[2] / "k8s" / "grafana" / "geopin.json"
# Suffixes Prometheus adds to a histogram's or counter's series.
SUFFIXES = ("_bucket", "_sum", "_count", "_total", "_created")


def _defined() -> set[str]:
    names = set(SCRAPED)  # read per scrape by the gateway, in no registry
    for metric in REGISTRY.collect():
        names.add(metric.name)
        names.update(f"{metric.name}{suffix}" for suffix in SUFFIXES)
    return names


def test_every_panel_queries_only_metrics_the_code_defines() -> None:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    exprs = [target["expr"] for panel in panels for target in panel["targets"]]
    used = {name for expr in exprs for name in re.findall(r"\bgeopin_[a-z_]+", expr)}
    assert exprs
    assert used
    assert used <= _defined(), f"unknown metrics: {sorted(used - _defined())}"


def test_the_dashboard_covers_requests_stages_batches_failures_and_queues() -> None:
    text = DASHBOARD.read_text()
    for name in (
        "geopin_http_requests_total",
        "geopin_http_request_duration_seconds_bucket",
        "geopin_task_duration_seconds_bucket",
        "geopin_embed_batch_size",
        "geopin_task_failures_total",
        "geopin_model_load_seconds",
        "geopin_queue_length",
    ):
        assert name in text, name
