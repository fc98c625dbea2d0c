"""The base of pipeline tasks: an outage is waited out, a task failing for good fails its job.

A backend that does not answer (:data:`geopin.queue.retry.TRANSIENT_ERRORS`) sends the task
back to the queue with a countdown, again and again until the outage window
(``GEOPIN_CELERY__OUTAGE_WINDOW_S``) is spent, counted from the first failure, which each
delivery carries in a message header. Then the job fails with the outage's own code
(``index-unavailable``, ``queue-unavailable``). A time limit fails it with ``timeout``, and
anything else, a bug, with ``internal-error``. When the job store cannot record the failure
either, the task is delivered again later instead: a job is never left behind unended.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, NoReturn, Protocol

from celery import Task
from celery.exceptions import Ignore, Reject, Retry, SoftTimeLimitExceeded

from geopin.jobs import JobStore, StoreUnavailable
from geopin.per_process import process_settings
from geopin.pipeline import Notifier, fail_job
from geopin.queue.retry import LONGEST_DELAY_S, TRANSIENT_ERRORS, OutageWindow, backend_of

log = logging.getLogger(__name__)

# When the first try of an outage failed (unix seconds), carried from delivery to delivery.
OUTAGE_SINCE_HEADER = "geopin_outage_since"


class JobEnder(Protocol):
    """What ending a job takes: the store whose compare-and-set ends it, and the notifier."""

    @property
    def store(self) -> JobStore: ...

    @property
    def notifier(self) -> Notifier: ...


class JobTask(Task):  # type: ignore[misc]
    """A pipeline task whose first argument is a job ID (the module docstring says what it adds).

    Tasks declare it with ``base=JobTask, parts=...``, where ``parts`` gives this process's
    job store and notifier (a :class:`geopin.per_process.PerProcess`): Celery sets extra
    decorator arguments as class attributes.
    """

    parts: Callable[[], JobEnder]
    # The outage window bounds these retries, not a count (GEOPIN_CELERY__MAX_RETRIES).
    max_retries = None
    # Wall-clock time: the deliveries of one task may run on different hosts.
    clock: Callable[[], float] = time.time

    def __call__(self, job_id: str, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().__call__(job_id, *args, **kwargs)
        except (Ignore, Retry, Reject):  # Celery's own control flow, not a failure
            raise
        except Exception as exc:
            self._failed(job_id, exc)
            raise  # the task failed for good: Celery records it, and the chain stops here

    def _failed(self, job_id: str, exc: Exception) -> None:
        """Retry while the outage window lasts; otherwise end the job with the right code."""
        now = self.clock()
        since = float((self.request.headers or {}).get(OUTAGE_SINCE_HEADER, now))
        if isinstance(exc, TRANSIENT_ERRORS):
            code, message = exc.code, self._wait_out(job_id, exc, since, now)
        elif isinstance(exc, SoftTimeLimitExceeded | TimeoutError):
            code, message = "timeout", "the job took longer than the worker's time limit"
        else:
            code = "internal-error"
            message = (
                f"{self.name} failed unexpectedly; operators can find task {self.request.id} "
                "in logs"
            )
        log.error("job %s failed in %s: %r", job_id, self.name, exc)
        parts = self.parts()
        try:
            fail_job(parts.store, parts.notifier, job_id, code, message)
        except StoreUnavailable as unrecorded:
            log.warning("job %s: cannot record its failure (%s); trying again", job_id, unrecorded)
            self._deliver_again(exc, LONGEST_DELAY_S, since)

    def _wait_out(self, job_id: str, exc: Exception, since: float, now: float) -> str:
        """Deliver the task again while the window lasts; then say why the job fails."""
        window = OutageWindow(process_settings().celery.outage_window_s)
        delay = window.delay_s(since, now, self.request.retries)
        backend = backend_of(exc)
        if delay is not None:
            log.warning(
                "job %s: %s did not answer (%s); trying again in %.0f s",
                job_id,
                backend,
                exc,
                delay,
            )
            self._deliver_again(exc, delay, since)
        return f"{backend} did not answer for {window.window_s:.0f} s"

    def _deliver_again(self, exc: Exception, delay_s: float, since: float) -> NoReturn:
        """Send this task back to the queue, due in ``delay_s``; its thread is free meanwhile.

        If the broker cannot take the new message either, the delivered one is put back
        rather than dropped (Celery would drop it); a broker that cannot take that back
        keeps it unacknowledged, and it is delivered again after the visibility timeout.
        """
        try:
            raise self.retry(exc=exc, countdown=delay_s, headers={OUTAGE_SINCE_HEADER: since})
        except Reject as rejected:
            raise Reject(rejected.reason, requeue=True) from exc
