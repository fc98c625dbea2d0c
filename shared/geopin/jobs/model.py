"""Jobs: what a client submitted, where it stands, and what it produced.

The job store keeps one document per job ID, next to the upload it refers to and, once
embedded, its query vector; every record expires, so an abandoned job cleans itself up.
Stores (:mod:`geopin.jobs.redis`, :mod:`geopin.jobs.sqlite`) implement :class:`JobStore`
and share the transitions here, each over its own atomic compare-and-set: a task delivered
twice after a worker died sees the job's current state and never writes a second result.
"""

from __future__ import annotations

import json
import secrets
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol

import numpy as np


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"

    @property
    def is_terminal(self) -> bool:
        return self in (JobStatus.SUCCEEDED, JobStatus.FAILED)


def utc_now() -> str:
    """ISO 8601 in UTC with millisecond precision: sortable and unambiguous."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# 24 random bytes are 32 base64url characters; the OpenAPI document states this pattern.
JOB_ID_PATTERN = "[A-Za-z0-9_-]{32}"


def new_job_id() -> str:
    """192 random bits, URL-safe: unguessable, so a job ID is its own read capability."""
    return secrets.token_urlsafe(24)


@dataclass(frozen=True)
class JobError:
    code: str
    message: str


@dataclass(frozen=True)
class StatusChange:
    status: JobStatus
    at: str


@dataclass
class Job:
    job_id: str
    top_k: int
    status: JobStatus = JobStatus.QUEUED
    created_at: str = field(default_factory=utc_now)
    history: list[StatusChange] = field(default_factory=list)
    result: dict[str, Any] | None = None
    error: JobError | None = None
    owner: str | None = None  # the API key's ID; None when keys are off
    callback_url: str | None = None  # where the notifier POSTs the job once it has ended
    geo_filter: dict[str, Any] | None = None  # search area (geopin.geo), as the client gave it

    def __post_init__(self) -> None:
        if not self.history:
            self.history.append(StatusChange(self.status, self.created_at))

    @property
    def updated_at(self) -> str:
        return self.history[-1].at

    def public(self) -> dict[str, Any]:
        """The job as the API shows it: result only when succeeded, error only when failed."""
        body: dict[str, Any] = {
            "job_id": self.job_id,
            "status": self.status.value,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }
        if self.geo_filter is not None:
            body["geo_filter"] = self.geo_filter
        if self.status is JobStatus.SUCCEEDED:
            body["result"] = self.result
        if self.status is JobStatus.FAILED and self.error is not None:
            body["error"] = asdict(self.error)
        return body

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, raw: str | bytes) -> Job:
        data = json.loads(raw)
        error = data.pop("error")
        history = [StatusChange(JobStatus(h["status"]), h["at"]) for h in data.pop("history")]
        return cls(
            **{**data, "status": JobStatus(data["status"])},
            history=history,
            error=JobError(**error) if error else None,
        )


@dataclass(frozen=True)
class QueryVector:
    """A photo's embedding, tagged with the identity of the model that produced it."""

    model_id: str
    vector: np.ndarray
    embed_s: float = 0.0  # decoding, preprocessing and inference, seconds
    embedded_at: str | None = None  # set by the store when the vector is saved


def seconds_between(start: str, end: str) -> float:
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


class StoreUnavailable(Exception):
    """The job store did not answer (Redis down, SQLite locked); worth retrying.

    Stores raise it in place of their library's errors, so views and tasks need not know
    which store they talk to: the gateway answers 503 ``queue-unavailable``.
    """

    code = "queue-unavailable"


class JobStore(Protocol):
    def create(
        self,
        upload: bytes,
        top_k: int,
        *,
        owner: str | None = None,
        callback_url: str | None = None,
        geo_filter: dict[str, Any] | None = None,
    ) -> Job: ...
    def get(self, job_id: str) -> Job | None: ...
    def mark_running(self, job_id: str) -> Job | None: ...
    def succeed(self, job_id: str, result: dict[str, Any]) -> Job | None:
        """End the job with its result; returns the job only if this call ended it."""

    def fail(self, job_id: str, code: str, message: str) -> Job | None:
        """End the job with an error; returns the job only if this call ended it."""

    def discard(self, job_id: str) -> None: ...
    def oldest_running(self) -> float | None:
        """When (Unix time) the job running longest started running; None when none runs."""

    def failures(self) -> dict[str, int]:
        """Jobs that ended failed, by error code, counted as each transition happened."""

    def load_upload(self, job_id: str) -> bytes | None: ...
    def delete_upload(self, job_id: str) -> None: ...
    def save_vector(self, job_id: str, query: QueryVector) -> None: ...
    def load_vector(self, job_id: str) -> QueryVector | None: ...
    def delete_vector(self, job_id: str) -> None: ...
    def ping(self) -> None: ...


@dataclass(frozen=True)
class Moved:
    """What a transition changed that a store keeps aside, in the same atomic write: the
    jobs running now (for the age of the oldest) and failures by code."""

    started: bool  # the job is running from now on
    stopped: bool  # the job is no longer running (or was never started)
    failure: str | None  # the error code, when the job failed now

    @classmethod
    def between(cls, before: JobStatus, job: Job) -> Moved:
        failed = job.status is JobStatus.FAILED and before is not JobStatus.FAILED
        return cls(
            started=job.status is JobStatus.RUNNING and before is not JobStatus.RUNNING,
            stopped=job.status.is_terminal and not before.is_terminal,
            failure=job.error.code if failed and job.error else None,
        )


class JobTransitions(ABC):
    """The status transitions every job store shares, over each store's atomic ``_update``.

    ``succeed`` and ``fail`` return the ended job only to the one call that ended it (a
    redelivered task gets None), so the caller can act on a job's end exactly once, in plain
    sight: ``if ended := store.fail(...): job_ended(ended, notifier)``.
    """

    @abstractmethod
    def _update(self, job_id: str, change: Callable[[Job], bool]) -> tuple[Job | None, bool]:
        """Apply ``change`` atomically (compare-and-set); it returns False to leave the job."""

    @abstractmethod
    def _insert(self, job: Job, upload: bytes) -> None:
        """Store a new job and its upload together, each with its expiry."""

    def create(
        self,
        upload: bytes,
        top_k: int,
        *,
        owner: str | None = None,
        callback_url: str | None = None,
        geo_filter: dict[str, Any] | None = None,
    ) -> Job:
        job = Job(
            new_job_id(), top_k, owner=owner, callback_url=callback_url, geo_filter=geo_filter
        )
        self._insert(job, upload)
        return job

    @staticmethod
    def _move(job: Job, status: JobStatus) -> None:
        job.status = status
        job.history.append(StatusChange(status, utc_now()))

    def mark_running(self, job_id: str) -> Job | None:
        def change(job: Job) -> bool:
            if job.status is not JobStatus.QUEUED:
                return False  # already running (a redelivery) or finished
            self._move(job, JobStatus.RUNNING)
            return True

        job, _ = self._update(job_id, change)
        return job

    def succeed(self, job_id: str, result: dict[str, Any]) -> Job | None:
        def change(job: Job) -> bool:
            if job.status.is_terminal:
                return False  # first result wins; a redelivered task never writes another
            job.result = result
            self._move(job, JobStatus.SUCCEEDED)
            return True

        return self._end(job_id, change)

    def fail(self, job_id: str, code: str, message: str) -> Job | None:
        def change(job: Job) -> bool:
            if job.status.is_terminal:
                return False
            job.error = JobError(code, message)
            self._move(job, JobStatus.FAILED)
            return True

        return self._end(job_id, change)

    def _end(self, job_id: str, change: Callable[[Job], bool]) -> Job | None:
        """A terminal transition: the ended job for the call that changed it, else None."""
        job, changed = self._update(job_id, change)
        return job if changed else None
