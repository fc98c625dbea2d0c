"""The base of pipeline tasks: a task failing for good fails its job, and says so once."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

from celery import Task
from celery.exceptions import SoftTimeLimitExceeded

from geopin.jobs import JobStore
from geopin.pipeline import Notifier, fail_job

log = logging.getLogger(__name__)


class JobEnder(Protocol):
    """What ending a job takes: the store whose compare-and-set ends it, and the notifier."""

    @property
    def store(self) -> JobStore: ...

    @property
    def notifier(self) -> Notifier: ...


class JobTask(Task):  # type: ignore[misc]
    """A pipeline task whose first argument is a job ID; a task failing for good fails its job.

    Tasks declare it with ``base=JobTask, parts=...``, where ``parts`` gives this process's
    job store and notifier (a :class:`geopin.per_process.PerProcess`): Celery sets extra
    decorator arguments as class attributes.
    """

    parts: Callable[[], JobEnder]

    def on_failure(self, exc: Exception, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        job_id = args[0]
        if isinstance(exc, SoftTimeLimitExceeded | TimeoutError):
            code, message = "timeout", "the job took longer than the worker's time limit"
        else:
            code = "internal-error"
            message = f"{self.name} failed unexpectedly; operators can find task {task_id} in logs"
        log.error("job %s failed in %s: %r", job_id, self.name, exc)
        parts = self.parts()
        fail_job(parts.store, parts.notifier, job_id, code, message)
