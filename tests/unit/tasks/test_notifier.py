"""The notifier's webhook task, run eagerly (``.apply()``), and its due-retry mover, which runs
from the worker's start to its shutdown."""

from __future__ import annotations

from typing import Any

import geopin_notifier.tasks as notifier_tasks
import pytest
from celery.signals import worker_ready, worker_shutdown
from geopin.queue import QueueUnavailable


class RecordingDeliveries:
    """Records the attempts asked for; the first ``outages`` find the broker down."""

    def __init__(self, outages: int = 0) -> None:
        self.outages, self.attempts = outages, list[tuple[str, int, int]]()

    def attempt(self, job_id: str, round_: int, attempt: int) -> None:
        self.attempts.append((job_id, round_, attempt))
        if len(self.attempts) <= self.outages:
            raise QueueUnavailable("the retry could not be queued")


class RecordingMover:
    def __init__(self, *args: Any) -> None:
        self.events: list[str] = []

    def start(self) -> None:
        self.events.append("start")

    def stop(self) -> None:
        self.events.append("stop")


def use_deliveries(monkeypatch: pytest.MonkeyPatch, outages: int = 0) -> RecordingDeliveries:
    deliveries = RecordingDeliveries(outages)
    monkeypatch.setattr(notifier_tasks, "notifier", lambda settings, celery, client: deliveries)
    return deliveries


def test_the_webhook_task_makes_the_one_attempt_its_ids_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    deliveries = use_deliveries(monkeypatch)
    assert notifier_tasks.deliver.apply(args=("job-1", 2, 3)).state == "SUCCESS"
    assert deliveries.attempts == [("job-1", 2, 3)]


def test_a_broker_outage_is_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    deliveries = use_deliveries(monkeypatch, outages=1)
    assert notifier_tasks.deliver.apply(args=("job-1", 1, 1)).state == "SUCCESS"
    assert deliveries.attempts == [("job-1", 1, 1)] * 2


def test_the_due_retry_mover_runs_from_worker_ready_until_shutdown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    use_deliveries(monkeypatch)
    monkeypatch.setattr(notifier_tasks, "DueMover", RecordingMover)
    worker_ready.send(sender=None)
    worker_shutdown.send(sender=None)
    assert notifier_tasks.parts().mover.events == ["start", "stop"]
