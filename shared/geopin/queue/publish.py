"""Queueing a job on Redis at the cost of one LPUSH, in messages Celery itself wrote.

Celery's ``chain(...).apply_async()`` costs about 1.2 ms of CPU per job (the canvas, the
message protocol, kombu's routing lookup and a new Redis client object per publish), most of
a gateway's work for a submission; the LPUSH that delivers it costs 0.04 ms. So the gateway
asks Celery once per process to write a job's messages for a placeholder job, captured on
kombu's in-memory transport rather than sent, and then, per job, puts the job's ID and fresh
task IDs and delivery tag in place of the placeholder's and pushes the result on the ``embed``
list, where kombu's Redis transport would have put it (the queue's list; priority 0 has no
suffix). The workers cannot tell the difference: each message is what Celery would have
published for that job (``tests/unit/test_publish.py`` compares them), with the search task
chained after the embedding one (the message protocol:
https://docs.celeryq.dev/en/stable/internals/protocol.html).
"""

from __future__ import annotations

import base64
import json
import threading
import uuid
from collections.abc import Callable
from typing import Any

import redis

from geopin.outages import OutageTranslation
from geopin.queue import EMBED_QUEUE, QueueUnavailable, enqueue_locate, make_celery
from geopin.settings import Settings

_redis_outage = OutageTranslation(redis.RedisError, QueueUnavailable, "Redis (broker)")
PLACEHOLDER_JOB_ID = "geopin-placeholder-job-id-000000"  # a job ID's length, found nowhere else
_BODY = "geopin-placeholder-body"


class Template:
    """A job's ``embed`` message as Celery writes it, with the places of the IDs marked."""

    def __init__(self, message: dict[str, Any]) -> None:
        body = base64.b64decode(message["body"]).decode()
        embed_id = message["headers"]["id"]
        (search,) = json.loads(body)[2]["chain"]
        self._ids = (
            embed_id,
            search["options"]["task_id"],
            message["properties"]["delivery_tag"],
        )
        self._body = body
        self._envelope = json.dumps({**message, "body": _BODY})
        if any(self._envelope.count(i) + body.count(i) == 0 for i in self._ids):
            raise ValueError("Celery's message lacks an ID it should hold")

    def message(self, job_id: str) -> str:
        """The message for ``job_id``, with task IDs and a delivery tag of its own."""
        body, envelope = self._body, self._envelope
        for old in self._ids:
            new = str(uuid.uuid4())
            body, envelope = body.replace(old, new), envelope.replace(old, new)
        body = body.replace(PLACEHOLDER_JOB_ID, job_id)
        envelope = envelope.replace(PLACEHOLDER_JOB_ID, job_id)
        return envelope.replace(_BODY, base64.b64encode(body.encode()).decode(), 1)


def published_by_celery(settings: Settings, job_id: str) -> dict[str, Any]:
    """The ``embed`` message Celery writes for ``job_id`` with GeoPin's configuration,
    published on an in-memory broker instead of the configured one."""
    capture = make_celery(settings, "geopin-capture")
    capture.conf.update(broker_url="memory://", broker_transport_options={})
    with capture.connection_for_write() as connection:
        enqueue_locate(capture, job_id)
        captured = connection.SimpleQueue(EMBED_QUEUE).get(timeout=5)
        captured.ack()
    message: dict[str, Any] = captured.serializable()
    return message


def capture_template(settings: Settings) -> Template:
    return Template(published_by_celery(settings, PLACEHOLDER_JOB_ID))


class RedisLocatePublisher:
    """Queues jobs on a Redis broker, one LPUSH each (the module docstring says why)."""

    def __init__(self, settings: Settings, client: redis.Redis) -> None:
        self._settings, self._redis = settings, client
        self._template: Template | None = None  # built on first use: no work at import
        self._lock = threading.Lock()

    @_redis_outage
    def __call__(self, job_id: str) -> None:
        if self._template is None:
            with self._lock:
                self._template = self._template or capture_template(self._settings)
        self._redis.lpush(EMBED_QUEUE, self._template.message(job_id))


QueueJob = Callable[[str], None]
