"""What every worker records around its tasks: the job ID for the logs, stage latency, failures.

Celery's task signals fire in the thread that runs the task (``--pool=threads`` included), so
one set of handlers covers the embed, search and webhook tasks without touching their code,
and a job's context variable stays in the thread that works on it.
"""

from __future__ import annotations

import time
from typing import Any

from celery import Task
from celery.signals import task_failure, task_postrun, task_prerun

from geopin.logs import bind_job
from geopin.metrics import TASK_FAILURES, TASK_LATENCY, stage_of

_started: dict[str, float] = {}


def task_started(task: Task, task_id: str, args: tuple[Any, ...]) -> None:
    """Bind the job (every pipeline task takes its job ID first) and start the stage clock."""
    if stage_of(task.name) is None:
        return
    bind_job(str(args[0]) if args else None)
    _started[task_id] = time.perf_counter()


def task_finished(task: Task, task_id: str) -> None:
    started = _started.pop(task_id, None)
    stage = stage_of(task.name)
    if started is not None and stage is not None:
        TASK_LATENCY.labels(stage).observe(time.perf_counter() - started)
    bind_job(None)  # the pool thread's next task may be another job's


def task_failed(task: Task, exception: BaseException) -> None:
    stage = stage_of(task.name)
    if stage is not None:
        TASK_FAILURES.labels(stage, type(exception).__name__).inc()


def _prerun(sender: Task, task_id: str, args: tuple[Any, ...], **_: object) -> None:
    task_started(sender, task_id, args)


def _postrun(sender: Task, task_id: str, **_: object) -> None:
    task_finished(sender, task_id)


def _failure(sender: Task, exception: BaseException, **_: object) -> None:
    task_failed(sender, exception)


def observe_tasks() -> None:
    """Connect the handlers above to Celery's task signals, for this worker process."""
    task_prerun.connect(_prerun, weak=False)
    task_postrun.connect(_postrun, weak=False)
    task_failure.connect(_failure, weak=False)
