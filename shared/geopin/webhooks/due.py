"""Retries that are due later, kept in a Redis sorted set until their time comes.

Celery's own ``countdown`` cannot hold a retry for hours on a Redis broker: a task waiting
for its ETA stays unacknowledged, and kombu delivers every unacknowledged task again once it
is older than the visibility timeout (10 minutes), so a 24-hour retry would be copied about
150 times. Instead a retry waits here, scored by when it is due, and the notifier's mover
thread sends each one to the ``webhooks`` queue when its time comes.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import redis

from geopin.jobs import StoreUnavailable
from geopin.outages import OutageTranslation

log = logging.getLogger(__name__)
_redis_outage = OutageTranslation(redis.RedisError, StoreUnavailable, "Redis")


@dataclass(frozen=True)
class DueAttempt:
    job_id: str
    round: int
    attempt: int


class DueSet:
    def __init__(self, client: redis.Redis, key_prefix: str) -> None:
        self._redis = client
        self._key = f"{key_prefix}:webhook-due"

    @_redis_outage
    def add(self, due: DueAttempt, at: float) -> None:
        member = json.dumps([due.job_id, due.round, due.attempt])
        self._redis.zadd(self._key, {member: at})

    @_redis_outage
    def take(self, now: float, limit: int = 100) -> list[DueAttempt]:
        """Remove and return what is due; of two movers, only one gets each entry (ZREM)."""
        taken = []
        members: list[bytes] = self._redis.zrangebyscore(  # type: ignore[assignment]
            self._key, "-inf", now, start=0, num=limit
        )
        for member in members:
            if self._redis.zrem(self._key, member):
                job_id, round_, attempt = json.loads(member)
                taken.append(DueAttempt(job_id, round_, attempt))
        return taken


class DueMover(threading.Thread):
    """Sends due retries to the queue every ``interval_s`` until stopped.

    An entry is removed before it is sent: a mover that dies between the two loses that one
    retry, where sending first would make every mover send every retry.
    """

    def __init__(self, due: DueSet, send: Callable[[DueAttempt], None], interval_s: float) -> None:
        super().__init__(name="webhook-due-mover", daemon=True)
        self._due, self._send, self._interval_s = due, send, interval_s
        self._stopped = threading.Event()

    def run(self) -> None:
        while not self._stopped.is_set():
            try:
                for entry in self._due.take(time.time()):
                    self._send(entry)
            except Exception:
                log.exception("could not move due webhook retries; trying again")
            self._stopped.wait(self._interval_s)

    def stop(self) -> None:
        self._stopped.set()
