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
