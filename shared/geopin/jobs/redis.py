"""Jobs in Redis: the production :class:`~geopin.jobs.JobStore`.

Redis is the one place every process of a deployment can read (the gateway answers polls,
workers move the job on); each key has a TTL. Transitions are WATCH/MULTI transactions, the
compare-and-set the shared transitions need. Redis's errors leave as StoreUnavailable.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import redis

from geopin.jobs.model import (
    Job,
    JobTransitions,
    Moved,
    QueryVector,
    StoreUnavailable,
    utc_now,
)
from geopin.outages import OutageTranslation
from geopin.settings import JobSettings

_redis_outage = OutageTranslation(redis.RedisError, StoreUnavailable, "Redis")


class RedisJobStore(JobTransitions):
    """Job records, uploads and query vectors in Redis, each key with a TTL."""

    def __init__(
        self,
        client: redis.Redis,
        settings: JobSettings,
        key_prefix: str,
    ) -> None:
        self._redis = client
        self._settings = settings
        self._prefix = key_prefix
        self._running = f"{key_prefix}:running"  # sorted set: job ID -> when it started running
        self._failures = f"{key_prefix}:job-failures"  # hash: error code -> jobs failed with it

    def _key(self, kind: str, job_id: str) -> str:
        return f"{self._prefix}:{kind}:{job_id}"

    @_redis_outage
    def ping(self) -> None:
        self._redis.ping()

    @_redis_outage
    def _insert(self, job: Job, upload: bytes) -> None:
        with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(self._key("upload", job.job_id), upload, ex=self._settings.upload_ttl_s)
            pipe.set(self._key("job", job.job_id), job.to_json(), ex=self._settings.result_ttl_s)
            pipe.execute()

    @_redis_outage
    def discard(self, job_id: str) -> None:
        """Forget a job that could not be enqueued, so no one polls a job that never runs."""
        self._redis.delete(
            self._key("job", job_id), self._key("upload", job_id), self._key("vector", job_id)
        )

    @_redis_outage
    def get(self, job_id: str) -> Job | None:
        raw = self._redis.get(self._key("job", job_id))
        return Job.from_json(raw) if raw is not None else None  # type: ignore[arg-type]

    @_redis_outage
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
            before = job.status
            changed = change(job)
            outcome = (job, changed)
            if changed:
                pipe.multi()
                pipe.set(key, job.to_json(), keepttl=True)
                self._keep_aside(pipe, Moved.between(before, job), job_id)

        self._redis.transaction(attempt, key)
        return outcome

    def _keep_aside(self, pipe: redis.client.Pipeline, moved: Moved, job_id: str) -> None:
        if moved.started:
            pipe.zadd(self._running, {job_id: time.time()})
        if moved.stopped:
            pipe.zrem(self._running, job_id)
        if moved.failure:
            pipe.hincrby(self._failures, moved.failure, 1)

    @_redis_outage
    def oldest_running(self) -> float | None:
        while oldest := self._redis.zrange(self._running, 0, 0, withscores=True):
            job_id, since = oldest[0]  # type: ignore[index]
            if self._redis.exists(self._key("job", job_id.decode())):
                return float(since)
            self._redis.zrem(self._running, job_id)  # expired while running: nobody will end it
        return None

    @_redis_outage
    def failures(self) -> dict[str, int]:
        counted = self._redis.hgetall(self._failures)
        return {code.decode(): int(n) for code, n in counted.items()}  # type: ignore[union-attr]

    @_redis_outage
    def load_upload(self, job_id: str) -> bytes | None:
        return self._redis.get(self._key("upload", job_id))  # type: ignore[return-value]

    @_redis_outage
    def delete_upload(self, job_id: str) -> None:
        self._redis.delete(self._key("upload", job_id))

    @_redis_outage
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

    @_redis_outage
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

    @_redis_outage
    def delete_vector(self, job_id: str) -> None:
        self._redis.delete(self._key("vector", job_id))
