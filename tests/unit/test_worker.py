"""``python -m geopin.worker``: one entry point for the three workers, driven by its table."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import geopin.worker
import pytest
from geopin.queue import app
from geopin.settings import Settings
from geopin.worker import WORKERS


@pytest.mark.parametrize("kind", sorted(WORKERS))
def test_each_worker_consumes_the_queue_its_tasks_are_sent_to(kind: str) -> None:
    worker = WORKERS[kind]
    importlib.import_module(worker.tasks)
    declared = [t.name for t in app.tasks.values() if type(t).__module__ == worker.tasks]
    assert declared, f"{worker.tasks} declares no task"
    for name in declared:
        assert app.amqp.router.route({}, name)["queue"].name == worker.queue, name


class FakeApp:
    def __init__(self) -> None:
        self.conf = SimpleNamespace(include=[])
        self.argv: list[str] = []

    def worker_main(self, argv: list[str]) -> None:
        self.argv = argv


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """Runs the entry point's set-up as it is, recording it instead of starting anything."""
    for name in ("GEOPIN_MODEL__MAX_BATCH", "GEOPIN_METRICS__PORT", "GEOPIN_LOG_LEVEL"):
        monkeypatch.delenv(name, raising=False)
    geopin.worker.process_settings.forget()
    record: dict[str, Any] = {"app": FakeApp()}
    monkeypatch.setattr(geopin.worker, "app", record["app"])
    monkeypatch.setattr(geopin.worker, "configure_logging", lambda *a: record.update(logs=a))
    monkeypatch.setattr(geopin.worker, "observe_tasks", lambda: record.update(observed=True))
    monkeypatch.setattr(geopin.worker, "watch_over_tasks", lambda *a: record.update(liveness=a[2]))
    monkeypatch.setattr(geopin.worker, "start_worker_server", lambda p: record.update(port=p))
    yield record
    geopin.worker.process_settings.forget()


def test_the_worker_starts_celery_with_its_options_then_the_callers(
    started: dict[str, Any],
) -> None:
    geopin.worker.main(["embed", "--concurrency=1", "--without-mingle"])
    two_batches = 2 * Settings().model.max_batch  # one inferred while the next is decoded
    assert started["app"].argv == [
        "worker",
        "--loglevel=INFO",
        "--queues=embed",
        "--pool=threads",
        f"--concurrency={two_batches}",
        "--hostname=embedder@%h",
        "--concurrency=1",  # later options win in Celery's command line
        "--without-mingle",
    ]
    assert started["app"].conf.include == ["geopin_embedder.tasks"]
    assert started["observed"] is True
    assert started["liveness"] == Settings().celery
    assert started["port"] == Settings().metrics.port
    assert started["logs"] == ("INFO", Settings().log_format)


def test_an_unknown_worker_is_refused_with_the_usage(started: dict[str, Any]) -> None:
    with pytest.raises(SystemExit, match=r"python -m geopin.worker \{embed\|search\|notify\}"):
        geopin.worker.main(["index"])
    assert started["app"].argv == []
