"""The search worker's task, run eagerly (``.apply()``) as a worker runs it, on the embedded job
store, with a fake index."""

from __future__ import annotations

from typing import Any

import geopin_searcher.tasks as searcher_tasks
import numpy as np
import pytest
from celery.exceptions import Reject, SoftTimeLimitExceeded
from geopin.index import IndexUnavailable
from geopin.jobs import Job, JobStatus, JobStore, QueryVector
from geopin.queue import QueueUnavailable

from tests.unit.test_pipeline import FixedIndex, RecordingNotifier


class FailingIndex(FixedIndex):
    """Raises ``errors`` in turn, then answers as a FixedIndex."""

    def __init__(self, *errors: BaseException) -> None:
        super().__init__()
        self.errors, self.calls = list(errors), 0

    def search(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return super().search(*args, **kwargs)


def use_index(monkeypatch: pytest.MonkeyPatch, index: FixedIndex) -> FixedIndex:
    monkeypatch.setattr(searcher_tasks, "vector_index", lambda settings: index)
    return index


def embedded_job(store: JobStore) -> Job:
    """A job as the embed task leaves it: running, with its vector stored."""
    job = store.create(b"photo", 3)
    store.mark_running(job.job_id)
    store.save_vector(job.job_id, QueryVector("model-a", np.ones(4, dtype=np.float32) / 2))
    return job


def test_search_records_the_matches_and_starts_the_webhook_once(
    store: JobStore, notifier: RecordingNotifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_index(monkeypatch, FixedIndex())
    job = embedded_job(store)
    assert searcher_tasks.search.apply(args=(job.job_id,)).state == "SUCCESS"
    assert searcher_tasks.search.apply(args=(job.job_id,)).state == "SUCCESS"  # redelivered
    done = store.get(job.job_id)
    assert done.status is JobStatus.SUCCEEDED
    assert [m["id"] for m in done.result["matches"]] == ["ref-0", "ref-1", "ref-2"]
    assert store.load_vector(job.job_id) is None
    assert [j.job_id for j in notifier.started] == [job.job_id]


def test_an_index_outage_is_retried_until_the_index_answers(
    store: JobStore, notifier: RecordingNotifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    unavailable = IndexUnavailable("Elasticsearch: connection refused")
    index = use_index(monkeypatch, FailingIndex(unavailable, unavailable))
    job = embedded_job(store)
    assert searcher_tasks.search.apply(args=(job.job_id,)).state == "SUCCESS"
    assert index.calls == 3
    assert store.get(job.job_id).status is JobStatus.SUCCEEDED


def test_an_index_outage_that_outlasts_the_window_fails_the_job_as_index_unavailable(
    store: JobStore,
    notifier: RecordingNotifier,
    monkeypatch: pytest.MonkeyPatch,
    outage_window_s: int,
) -> None:
    unavailable = IndexUnavailable("Elasticsearch: connection refused")
    index = use_index(monkeypatch, FailingIndex(*[unavailable] * 100))
    job = embedded_job(store)
    assert searcher_tasks.search.apply(args=(job.job_id,)).state == "FAILURE"
    # Deliveries 50 s apart, the window counted from the first: tries at 0, 50, 100, 150 s.
    assert index.calls == 4
    failed = store.get(job.job_id)
    assert failed.error.code == "index-unavailable"
    assert failed.error.message == f"the reference index did not answer for {outage_window_s} s"
    assert [j.job_id for j in notifier.started] == [job.job_id]


def test_a_search_stopped_by_its_time_limit_fails_the_job_as_timed_out(
    store: JobStore, notifier: RecordingNotifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = use_index(monkeypatch, FailingIndex(SoftTimeLimitExceeded()))
    job = embedded_job(store)
    assert searcher_tasks.search.apply(args=(job.job_id,)).state == "FAILURE"
    assert index.calls == 1
    failed = store.get(job.job_id)
    assert failed.status is JobStatus.FAILED
    assert failed.error.code == "timeout"
    assert [j.job_id for j in notifier.started] == [job.job_id]


def test_a_retry_the_broker_cannot_take_puts_the_delivered_task_back(
    store: JobStore, notifier: RecordingNotifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broker_down(**options: Any) -> None:
        raise Reject(QueueUnavailable("broker: connection refused"), requeue=False)

    monkeypatch.setattr(searcher_tasks.search, "retry", broker_down)
    use_index(monkeypatch, FailingIndex(IndexUnavailable("Elasticsearch: connection refused")))
    job = embedded_job(store)
    result = searcher_tasks.search.apply(args=(job.job_id,))
    assert result.state == "REJECTED"
    assert result.result.requeue is True  # Celery would have dropped it
    assert store.get(job.job_id).status is JobStatus.RUNNING
