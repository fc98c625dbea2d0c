"""The embedding worker's tasks, run eagerly (``.apply()``) as a worker runs them, on the
embedded job store and model presence, with a fake model."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import geopin_embedder.tasks as embedder_tasks
import numpy as np
import pytest
from celery.signals import worker_init
from geopin.jobs import JobStatus, JobStore, StoreUnavailable
from geopin.model.info import ModelInfo
from geopin.per_process import process_settings
from geopin.settings import Settings
from geopin.wiring import presence
from prometheus_client import REGISTRY

from tests.support.factories import encode, place_photo
from tests.unit.test_pipeline import CountingEmbedder, RecordingNotifier

MODEL = ModelInfo("model-a", "fake", 4, trained=False, description="a fake", kind="cosplace")


class FakeEmbedder(CountingEmbedder):
    info = MODEL


class BrokenEmbedder(FakeEmbedder):
    def embed(self, data: bytes) -> Any:
        self.calls += 1
        raise RuntimeError("a bug")


class FlakyStore:
    """The real store behind it, but its first reads, and its first records of a failure,
    find it unavailable."""

    def __init__(self, store: JobStore, failing_reads: int, failing_records: int = 0) -> None:
        self._store, self.reads, self.records = store, 0, 0
        self.failing_reads, self.failing_records = failing_reads, failing_records

    def get(self, job_id: str) -> Any:
        self.reads += 1
        if self.reads <= self.failing_reads:
            raise StoreUnavailable("SQLite: database is locked")
        return self._store.get(job_id)

    def fail(self, job_id: str, code: str, message: str) -> Any:
        self.records += 1
        if self.records <= self.failing_records:
            raise StoreUnavailable("SQLite: database is locked")
        return self._store.fail(job_id, code, message)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


class StalledSession:
    """An inference session that answers only once ``release`` is set."""

    info = MODEL

    def __init__(self, release: threading.Event) -> None:
        self._release = release

    def run(self, batch: np.ndarray) -> np.ndarray:
        self._release.wait(timeout=30)
        return np.ones((len(batch), MODEL.dim), dtype=np.float32)


def use_embedder(monkeypatch: pytest.MonkeyPatch, embedder: FakeEmbedder) -> FakeEmbedder:
    monkeypatch.setattr(embedder_tasks, "Embedder", lambda *args, **kwargs: embedder)
    return embedder


@pytest.fixture
def embedder(monkeypatch: pytest.MonkeyPatch) -> FakeEmbedder:
    return use_embedder(monkeypatch, FakeEmbedder())


def test_embed_keeps_the_vector_for_the_search_and_drops_the_photo(
    store: JobStore, embedder: FakeEmbedder, notifier: RecordingNotifier
) -> None:
    job = store.create(b"photo", 3)
    assert embedder_tasks.embed.apply(args=(job.job_id,)).state == "SUCCESS"
    assert store.load_vector(job.job_id) is not None
    assert store.load_upload(job.job_id) is None
    assert store.get(job.job_id).status is JobStatus.RUNNING
    assert notifier.started == []


def test_embed_that_ends_the_job_skips_the_search_and_starts_the_webhook_once(
    store: JobStore, embedder: FakeEmbedder, notifier: RecordingNotifier
) -> None:
    job = store.create(b"bad", 3)
    assert embedder_tasks.embed.apply(args=(job.job_id,)).state == "IGNORED"  # chain stops
    assert embedder_tasks.embed.apply(args=(job.job_id,)).state == "IGNORED"  # redelivered
    failed = store.get(job.job_id)
    assert failed.status is JobStatus.FAILED
    assert failed.error.code == "undecodable-image"
    assert [j.job_id for j in notifier.started] == [job.job_id]


def test_an_unexpected_error_fails_the_job_once_without_retrying(
    store: JobStore, monkeypatch: pytest.MonkeyPatch, notifier: RecordingNotifier
) -> None:
    embedder = use_embedder(monkeypatch, BrokenEmbedder())
    job = store.create(b"photo", 3)
    assert embedder_tasks.embed.apply(args=(job.job_id,)).state == "FAILURE"
    assert embedder.calls == 1
    failed = store.get(job.job_id)
    assert failed.status is JobStatus.FAILED
    assert failed.error.code == "internal-error"
    embedder_tasks.embed.apply(args=(job.job_id,))  # a redelivery finds the job ended
    assert [j.job_id for j in notifier.started] == [job.job_id]


def embed_through(monkeypatch: pytest.MonkeyPatch, flaky: FlakyStore) -> tuple[str, str]:
    """Run the embed task on a new job with ``flaky`` as the tasks' store: (state, job ID)."""
    monkeypatch.setattr(embedder_tasks, "job_store", lambda settings: flaky)
    job_id = flaky.create(b"photo", 3).job_id
    return embedder_tasks.embed.apply(args=(job_id,)).state, job_id


@pytest.mark.usefixtures("embedder", "notifier")
def test_a_store_outage_is_retried_until_the_store_answers(
    store: JobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    flaky = FlakyStore(store, failing_reads=2)
    state, job_id = embed_through(monkeypatch, flaky)
    assert state == "SUCCESS"
    assert flaky.reads == 3
    assert store.load_vector(job_id) is not None


@pytest.mark.usefixtures("outage_window_s")
def test_a_store_outage_that_outlasts_the_window_fails_the_job_as_queue_unavailable(
    store: JobStore,
    embedder: FakeEmbedder,
    notifier: RecordingNotifier,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    flaky = FlakyStore(store, failing_reads=100)
    state, job_id = embed_through(monkeypatch, flaky)
    assert state == "FAILURE"
    assert flaky.reads == 4  # deliveries 50 s apart: at 0, 50, 100 and 150 s
    failed = store.get(job_id)
    assert failed.error.code == "queue-unavailable"
    assert failed.error.message == "the job store did not answer for 120 s"
    assert embedder.calls == 0
    assert [j.job_id for j in notifier.started] == [job_id]


@pytest.mark.usefixtures("embedder", "outage_window_s")
def test_a_failure_the_store_cannot_record_is_delivered_again_until_it_can(
    store: JobStore, notifier: RecordingNotifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    flaky = FlakyStore(store, failing_reads=100, failing_records=2)
    state, job_id = embed_through(monkeypatch, flaky)
    assert state == "FAILURE"
    assert (flaky.reads, flaky.records) == (6, 3)  # two more deliveries, not a lost job
    assert store.get(job_id).error.code == "queue-unavailable"
    assert len(notifier.started) == 1


@pytest.mark.usefixtures("embedder", "outage_window_s")
def test_a_job_whose_store_answers_again_after_the_window_goes_on(
    store: JobStore, notifier: RecordingNotifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The store is down for every try in the window and when the failure is recorded; by
    # the next delivery it answers, and the job is embedded as if nothing had happened.
    state, job_id = embed_through(
        monkeypatch, FlakyStore(store, failing_reads=4, failing_records=1)
    )
    assert state == "SUCCESS"
    assert store.get(job_id).status is JobStatus.RUNNING
    assert store.load_vector(job_id) is not None
    assert notifier.started == []


def test_the_worker_loads_and_announces_its_model_before_the_first_job(
    embedder: FakeEmbedder, notifier: RecordingNotifier, worker_process: Settings
) -> None:
    assert presence(worker_process).loaded_models() == []
    worker_init.send(sender=None)
    (announced,) = presence(worker_process).loaded_models()
    assert announced["model_id"] == MODEL.model_id
    assert REGISTRY.get_sample_value("geopin_model_load_seconds") is not None


@pytest.fixture
def stalled_model(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The real Embedder over a session that stalls until the test ends."""
    release = threading.Event()
    monkeypatch.setattr(
        "geopin.model.embedder.OnnxSession", lambda settings: StalledSession(release)
    )
    yield
    release.set()


def test_an_embedding_that_outlasts_the_time_limit_fails_the_job_as_timed_out(
    store: JobStore,
    stalled_model: None,
    notifier: RecordingNotifier,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The embedder runs in Celery's thread pool, where Celery enforces no time limit: the
    # worker's wait for its batched inference is what the soft time limit bounds.
    limits = {"SOFT_TIME_LIMIT_S": "1", "HARD_TIME_LIMIT_S": "2", "VISIBILITY_TIMEOUT_S": "3"}
    for name, seconds in limits.items():
        monkeypatch.setenv(f"GEOPIN_CELERY__{name}", seconds)
    process_settings.forget()  # the worker reads its settings again, with these limits
    job = store.create(encode(place_photo(1)), 3)
    started = time.monotonic()
    assert embedder_tasks.embed.apply(args=(job.job_id,)).state == "FAILURE"
    assert time.monotonic() - started < 20  # the stalled session would hold it 30 s
    failed = store.get(job.job_id)
    assert failed.status is JobStatus.FAILED
    assert failed.error.code == "timeout"
    assert [j.job_id for j in notifier.started] == [job.job_id]
