"""Jobs: what a client submitted, where it stands, and what it produced.

A job lives in Redis as one JSON document per job ID, next to the upload it
refers to and, once embedded, its query vector. Redis is the one place every
process can read (the gateway answers polls, workers move the job on), and
every key expires, so an abandoned job cleans itself up.

Transitions are compare-and-set (WATCH/MULTI): a task delivered twice after a
worker died sees the job's current state and never writes a second, different
result.
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
import redis

from shared.settings import JobSettings


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
    geo_filter: dict[str, Any] | None = None  # search area (shared.geo), as the client gave it

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
    def succeed(self, job_id: str, result: dict[str, Any]) -> bool: ...
    def fail(self, job_id: str, code: str, message: str) -> bool: ...
    def discard(self, job_id: str) -> None: ...
    def load_upload(self, job_id: str) -> bytes | None: ...
    def delete_upload(self, job_id: str) -> None: ...
    def save_vector(self, job_id: str, query: QueryVector) -> None: ...
    def load_vector(self, job_id: str) -> QueryVector | None: ...
    def delete_vector(self, job_id: str) -> None: ...
    def ping(self) -> None: ...


class JobTransitions(ABC):
    """The status transitions every job store shares, over each store's atomic ``_update``.

    ``on_end`` is called once per job, by whichever process moved it to succeeded or
    failed (a pipeline step or a task's ``on_failure``): the one place a job's end is seen.
    """

    _on_end: Callable[[Job], object] | None = None

    @abstractmethod
    def _update(self, job_id: str, change: Callable[[Job], bool]) -> tuple[Job | None, bool]:
        """Apply ``change`` atomically (compare-and-set); it returns False to leave the job."""

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

    def succeed(self, job_id: str, result: dict[str, Any]) -> bool:
        def change(job: Job) -> bool:
            if job.status.is_terminal:
                return False  # first result wins; a redelivered task never writes another
            job.result = result
            self._move(job, JobStatus.SUCCEEDED)
            return True

        return self._end(job_id, change)

    def fail(self, job_id: str, code: str, message: str) -> bool:
        def change(job: Job) -> bool:
            if job.status.is_terminal:
                return False
            job.error = JobError(code, message)
            self._move(job, JobStatus.FAILED)
            return True

        return self._end(job_id, change)

    def _end(self, job_id: str, change: Callable[[Job], bool]) -> bool:
        """A terminal transition; only the one that changed the job reports its end."""
        job, changed = self._update(job_id, change)
        if changed and job is not None and self._on_end is not None:
            self._on_end(job)
        return changed


class RedisJobStore(JobTransitions):
    """Job records, uploads and query vectors in Redis, each key with a TTL."""

    def __init__(
        self,
        client: redis.Redis,
        settings: JobSettings,
        key_prefix: str,
        on_end: Callable[[Job], object] | None = None,
    ) -> None:
        self._redis = client
        self._settings = settings
        self._prefix = key_prefix
        self._on_end = on_end

    def _key(self, kind: str, job_id: str) -> str:
        return f"{self._prefix}:{kind}:{job_id}"

    def ping(self) -> None:
        self._redis.ping()

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
            job_id=new_job_id(),
            top_k=top_k,
            owner=owner,
            callback_url=callback_url,
            geo_filter=geo_filter,
        )
        with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(self._key("upload", job.job_id), upload, ex=self._settings.upload_ttl_s)
            pipe.set(self._key("job", job.job_id), job.to_json(), ex=self._settings.result_ttl_s)
            pipe.execute()
        return job

    def discard(self, job_id: str) -> None:
        """Forget a job that could not be enqueued, so no one polls a job that never runs."""
        self._redis.delete(
            self._key("job", job_id), self._key("upload", job_id), self._key("vector", job_id)
        )

    def get(self, job_id: str) -> Job | None:
        raw = self._redis.get(self._key("job", job_id))
        return Job.from_json(raw) if raw is not None else None  # type: ignore[arg-type]

    def _update(self, job_id: str, change: Callable[[Job], bool]) -> tuple[Job | None, bool]:
        """Apply ``change`` atomically; it returns False to leave the job as it is."""
        key = self._key("job", job_id)
        outcome: tuple[Job | None, bool] = (None, False)

        def attempt(pipe: redis.client.Pipeline) -> None:
            nonlocal outcome
            raw = pipe.get(key)
            if raw is None:
                outcome = (None, False)
                return
            job = Job.from_json(raw)  # type: ignore[arg-type]
            changed = change(job)
            outcome = (job, changed)
            if changed:
                pipe.multi()
                pipe.set(key, job.to_json(), keepttl=True)

        self._redis.transaction(attempt, key)
        return outcome

    def load_upload(self, job_id: str) -> bytes | None:
        return self._redis.get(self._key("upload", job_id))  # type: ignore[return-value]

    def delete_upload(self, job_id: str) -> None:
        self._redis.delete(self._key("upload", job_id))

    def save_vector(self, job_id: str, query: QueryVector) -> None:
        key = self._key("vector", job_id)
        vector = np.ascontiguousarray(query.vector, dtype="<f4")
        fields = {
            "model_id": query.model_id,
            "vector": vector.tobytes(),
            "embed_s": query.embed_s,
            "embedded_at": utc_now(),
        }
        self._redis.hset(key, mapping=fields)
        self._redis.expire(key, self._settings.result_ttl_s)

    def load_vector(self, job_id: str) -> QueryVector | None:
        fields = self._redis.hgetall(self._key("vector", job_id))
        if not fields:
            return None
        return QueryVector(
            model_id=fields[b"model_id"].decode(),  # type: ignore[index]
            vector=np.frombuffer(fields[b"vector"], dtype="<f4"),  # type: ignore[index]
            embed_s=float(fields[b"embed_s"]),  # type: ignore[index]
            embedded_at=fields[b"embedded_at"].decode(),  # type: ignore[index]
        )

    def delete_vector(self, job_id: str) -> None:
        self._redis.delete(self._key("vector", job_id))
