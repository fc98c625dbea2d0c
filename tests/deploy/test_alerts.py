"""k8s/prometheus/geopin-alerts.yaml: a valid rule file whose alerts ask only for metrics the
code defines, cover stuck jobs and the faults issue 12 names, and are documented."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from tests.support.metric_names import defined, used

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "k8s" / "prometheus" / "geopin-alerts.yaml"
DURATION = re.compile(r"^(\d+[smhd])+$")  # Prometheus's duration, as `for:` takes it


def alerts() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def test_every_alert_asks_only_for_metrics_the_code_defines() -> None:
    asked = used(rule["expr"] for rule in alerts())
    assert asked
    assert asked <= defined(), f"unknown metrics: {sorted(asked - defined())}"


def test_every_alert_has_a_severity_a_summary_and_a_valid_wait() -> None:
    names = [rule["alert"] for rule in alerts()]
    assert len(names) == len(set(names))
    for rule in alerts():
        assert rule["labels"]["severity"] in ("page", "warning"), rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
        assert rule["annotations"]["description"], rule["alert"]
        assert DURATION.match(rule.get("for", "0s")), rule["alert"]


def test_stuck_jobs_orphans_redeliveries_and_index_outages_raise_alerts() -> None:
    exprs = " ".join(rule["expr"] for rule in alerts())
    for metric in (
        "geopin_oldest_running_job_age_seconds",
        "geopin_orphaned_tasks_requeued_total",
        "geopin_task_redeliveries_total",
        'geopin_jobs_failed_total{code="index-unavailable"}',
    ):
        assert metric in exprs, metric


def test_the_observability_doc_explains_every_alert() -> None:
    doc = (ROOT / "docs" / "observability.md").read_text()
    for rule in alerts():
        assert f"`{rule['alert']}`" in doc, rule["alert"]
