"""Each test runs the tasks as a fresh worker process would: embedded backends in a data folder
of its own, nothing built yet. Tests replace what a task would reach beyond this machine (the
model, the index, webhook receivers) by small fakes, through the names the task modules use."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import geopin_embedder.tasks as embedder_tasks
import geopin_notifier.tasks as notifier_tasks
import geopin_searcher.tasks as searcher_tasks
import pytest
from geopin.jobs import JobStore
from geopin.per_process import process_settings
from geopin.queue.job_task import JobTask
from geopin.settings import Settings
from geopin.wiring import job_store

from tests.unit.test_pipeline import RecordingNotifier


def forget_everything_built() -> None:
    for built in (
        process_settings,
        embedder_tasks.parts,
        embedder_tasks.ingest_parts,
        searcher_tasks.parts,
        notifier_tasks.parts,
    ):
        built.forget()


@pytest.fixture(autouse=True)
def worker_process(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Settings]:
    """This test's worker settings: embedded mode in ``tmp_path``, the defaults otherwise."""
    for name in list(os.environ):
        if name.startswith("GEOPIN_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("GEOPIN_MODE", "embedded")
    monkeypatch.setenv("GEOPIN_DATA_DIR", str(tmp_path))
    forget_everything_built()
    yield process_settings()
    forget_everything_built()


@pytest.fixture
def store(worker_process: Settings) -> JobStore:
    return job_store(worker_process)  # the same SQLite file as the tasks' own store


@pytest.fixture
def notifier(monkeypatch: pytest.MonkeyPatch) -> RecordingNotifier:
    """Records the webhooks the pipeline tasks start, in place of the real notifier."""
    recording = RecordingNotifier()
    for tasks in (embedder_tasks, searcher_tasks):
        monkeypatch.setattr(tasks, "notifier", lambda settings, celery: recording)
    return recording


class StepClock:
    """A wall clock that each call moves ``step_s`` on: the tasks read it once per delivery,
    so run eagerly (where Celery skips the countdown) each delivery comes ``step_s`` later."""

    def __init__(self, step_s: float) -> None:
        self.step_s, self.now = step_s, 1_000_000.0 - step_s

    def __call__(self) -> float:
        self.now += self.step_s
        return self.now


@pytest.fixture
def outage_window_s(monkeypatch: pytest.MonkeyPatch) -> int:
    """A job's tasks wait out outages for 120 s, and deliveries come 50 s apart."""
    monkeypatch.setenv("GEOPIN_CELERY__OUTAGE_WINDOW_S", "120")
    process_settings.forget()
    monkeypatch.setattr(JobTask, "clock", StepClock(50))
    return 120
