"""The base of pipeline tasks: a task failing for good fails its job, and says so once."""

from __future__ import annotations

import logging
from typing import Any

from celery import Task
from celery.exceptions import SoftTimeLimitExceeded

from geopin.jobs import JobStore
from geopin.pipeline import Notifier, fail_job

log = logging.getLogger(__name__)


class JobTask(Task):  # type: ignore[misc]
    """A pipeline task whose first argument is a job ID; a task failing for good fails its job.

    Workers register tasks with ``base=JobTask, store=..., notifier=...``: Celery sets extra
    decorator arguments as class attributes.
    """

    store: JobStore
    notifier: Notifier

    def on_failure(self, exc: Exception, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        job_id = args[0]
        if isinstance(exc, SoftTimeLimitExceeded | TimeoutError):
            code, message = "timeout", "the job took longer than the worker's time limit"
        else:
            code = "internal-error"
            message = f"{self.name} failed unexpectedly; operators can find task {task_id} in logs"
        log.error("job %s failed in %s: %r", job_id, self.name, exc)
        fail_job(self.store, self.notifier, job_id, code, message)
