"""Where a job's webhook stands, and every attempt to deliver it, kept in Redis next to the job.

A delivery runs in rounds: round 1 starts when the job ends, and each
``POST /v1/jobs/<id>/redeliver`` starts another. A round is a sequence of attempts that
ends delivered, failed (retries used up, or refused by the SSRF guard) or disabled (the
receiver answered 410 Gone). A task that belongs to an older round, or an attempt already
made, is skipped: that is what makes the notifier's task safe to deliver twice.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any, Protocol

import redis

from geopin.jobs import StoreUnavailable
from geopin.outages import OutageTranslation

MAX_KEPT_ATTEMPTS = 100  # a job redelivered many times keeps its latest attempts only
_redis_outage = OutageTranslation(redis.RedisError, StoreUnavailable, "Redis")


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"
    DISABLED = "disabled"


@dataclass(frozen=True)
class Attempt:
    round: int
    attempt: int
    at: str
    status_code: int | None = None
    error: str | None = None
    next_attempt_at: str | None = None  # set when another attempt is scheduled


@dataclass
class Delivery:
    webhook_id: str
    round: int
    status: DeliveryStatus
    attempts: list[Attempt] = field(default_factory=list)

    def public(self) -> dict[str, Any]:
        return {
            "webhook_id": self.webhook_id,
            "status": self.status.value,
            "round": self.round,
            "attempts": [
                {k: v for k, v in asdict(a).items() if v is not None} for a in self.attempts
            ],
        }


class DeliveryLog(Protocol):
    def start_round(self, job_id: str, webhook_id: str) -> int: ...
    def get(self, job_id: str) -> Delivery | None: ...
    def claim(self, job_id: str, round_: int, attempt: int, ttl_s: int) -> bool: ...
    def record(self, job_id: str, attempt: Attempt, status: DeliveryStatus) -> None: ...


class RedisDeliveryLog:
    """A hash (webhook ID, round, status) and a list of attempts per job, expiring with it."""

    def __init__(self, client: redis.Redis, key_prefix: str, ttl_s: int) -> None:
        self._redis = client
        self._prefix = key_prefix
        self._ttl_s = ttl_s

    def _keys(self, job_id: str) -> tuple[str, str]:
        return f"{self._prefix}:webhook:{job_id}", f"{self._prefix}:webhook-attempts:{job_id}"

    @_redis_outage
    def start_round(self, job_id: str, webhook_id: str) -> int:
        """Open the next round (1 for the first) as pending; returns its number."""
        state = self._keys(job_id)[0]
        with self._redis.pipeline(transaction=True) as pipe:
            pipe.hincrby(state, "round", 1)
            pipe.hset(state, mapping={"webhook_id": webhook_id, "status": "pending"})
            pipe.expire(state, self._ttl_s)
            round_: int = pipe.execute()[0]
        return round_

    @_redis_outage
    def get(self, job_id: str) -> Delivery | None:
        state_key, attempts_key = self._keys(job_id)
        state = self._redis.hgetall(state_key)
        if not state:
            return None
        raw_attempts = self._redis.lrange(attempts_key, 0, -1)
        return Delivery(
            webhook_id=state[b"webhook_id"].decode(),  # type: ignore[index]
            round=int(state[b"round"]),  # type: ignore[index]
            status=DeliveryStatus(state[b"status"].decode()),  # type: ignore[index]
            attempts=[Attempt(**json.loads(raw)) for raw in raw_attempts],  # type: ignore[union-attr]
        )

    @_redis_outage
    def claim(self, job_id: str, round_: int, attempt: int, ttl_s: int) -> bool:
        """True for the one caller that may make this attempt now.

        The claim lapses after ``ttl_s``, so an attempt whose worker died mid-way is made
        again when Celery delivers its task again, but never twice at once.
        """
        key = f"{self._prefix}:webhook-claim:{job_id}:{round_}:{attempt}"
        return bool(self._redis.set(key, 1, nx=True, ex=ttl_s))

    @_redis_outage
    def record(self, job_id: str, attempt: Attempt, status: DeliveryStatus) -> None:
        """Keep the attempt; set the status only if the attempt belongs to the current round."""
        state_key, attempts_key = self._keys(job_id)

        def write(pipe: redis.client.Pipeline) -> None:
            current = pipe.hget(state_key, "round")
            pipe.multi()
            pipe.rpush(attempts_key, json.dumps(asdict(attempt)))
            pipe.ltrim(attempts_key, -MAX_KEPT_ATTEMPTS, -1)
            pipe.expire(attempts_key, self._ttl_s)
            if current is not None and int(current) == attempt.round:  # type: ignore[arg-type]
                pipe.hset(state_key, "status", status.value)

        self._redis.transaction(write, state_key)
