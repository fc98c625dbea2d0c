"""Workers time each pipeline stage, count failures and tag their log lines with the job."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pytest
from geopin.logs import JobIdFilter
from geopin.metrics import BATCH_SIZE
from geopin.model.batching import MicroBatcher
from geopin.task_metrics import task_failed, task_finished, task_started
from prometheus_client import REGISTRY


@dataclass
class FakeTask:
    name: str


def _stage_count(stage: str) -> float:
    value = REGISTRY.get_sample_value("geopin_task_duration_seconds_count", {"stage": stage})
    return value or 0.0


def _job_of_next_record() -> str:
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "m", None, None)
    JobIdFilter().filter(record)
    return str(record.job_id)


def test_each_stage_observes_its_task_latency_and_binds_the_job_meanwhile() -> None:
    before = {stage: _stage_count(stage) for stage in ("embed", "search", "webhook")}
    for name in ("geopin.embed", "geopin.search", "geopin.webhook"):
        task_started(FakeTask(name), f"task-{name}", ("job-9",))  # type: ignore[arg-type]
        assert _job_of_next_record() == "job-9"
        task_finished(FakeTask(name), f"task-{name}")  # type: ignore[arg-type]
        assert _job_of_next_record() == "-"
    for stage, count in before.items():
        assert _stage_count(stage) == count + 1, stage


def test_tasks_outside_the_pipeline_are_not_timed_as_a_stage() -> None:
    task = FakeTask("geopin.ingest")
    task_started(task, "t-ingest", ("run-1",))  # type: ignore[arg-type]
    assert _job_of_next_record() == "-"  # its first argument is a run, not a job
    task_finished(task, "t-ingest")  # type: ignore[arg-type]


@pytest.mark.parametrize("exception", [TimeoutError(), ValueError("bad")])
def test_failures_are_counted_by_stage_and_exception(exception: BaseException) -> None:
    labels = {"stage": "search", "code": type(exception).__name__}
    before = REGISTRY.get_sample_value("geopin_task_failures_total", labels) or 0.0
    task_failed(FakeTask("geopin.search"), exception)  # type: ignore[arg-type]
    assert REGISTRY.get_sample_value("geopin_task_failures_total", labels) == before + 1


def test_the_micro_batchers_batches_land_in_the_batch_size_histogram() -> None:
    before = REGISTRY.get_sample_value("geopin_embed_batch_size_sum") or 0.0
    batcher = MicroBatcher(lambda x: x.reshape(len(x), -1), 8, 0.05, BATCH_SIZE.observe)
    futures = [batcher.submit(np.zeros((3, 2, 2), np.float32)) for _ in range(3)]
    for future in futures:
        future.result(timeout=5)
    batcher.close()
    assert REGISTRY.get_sample_value("geopin_embed_batch_size_sum") == before + 3
