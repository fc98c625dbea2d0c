"""The broker as GeoPin reads it: tasks waiting in a queue, and whether it answers.

Celery sends the tasks; this is for the gateway's backpressure, its metrics and ``/readyz``.
Either broker's errors leave as :class:`~geopin.queue.QueueUnavailable`.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Protocol

import redis

from geopin.outages import OutageTranslation
from geopin.queue import QueueUnavailable
from geopin.queue import sqlite as embedded

_redis_outage = OutageTranslation(redis.RedisError, QueueUnavailable, "Redis (broker)")
_sqlite_outage = OutageTranslation(sqlite3.OperationalError, QueueUnavailable, "SQLite (broker)")


class Broker(Protocol):
    def queue_length(self, queue: str) -> int:
        """Tasks waiting in ``queue``, not those a worker has taken: what KEDA scales on."""

    def ping(self) -> None:
        """Return if the broker would take a message now; else raise QueueUnavailable."""


class RedisBroker:
    """A Celery queue on Redis is a list named after it."""

    def __init__(self, client: redis.Redis) -> None:
        self._redis = client

    @_redis_outage
    def queue_length(self, queue: str) -> int:
        return int(self._redis.llen(queue))  # type: ignore[arg-type]

    @_redis_outage
    def ping(self) -> None:
        self._redis.ping()


class SqliteBroker:
    """The embedded transport's queues (:mod:`geopin.queue.sqlite`)."""

    def __init__(self, database: Path) -> None:
        self._database = database

    @_sqlite_outage
    def queue_length(self, queue: str) -> int:
        return embedded.queue_length(self._database, queue)

    @_sqlite_outage
    def ping(self) -> None:
        embedded.ping(self._database)
