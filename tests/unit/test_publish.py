"""A job queued with one LPUSH carries the message Celery itself would have published."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
import redis
from geopin.queue import EMBED_QUEUE, QueueUnavailable
from geopin.queue.publish import RedisLocatePublisher, capture_template, published_by_celery
from geopin.settings import Mode, Settings

SETTINGS = Settings(mode=Mode.SERVERS)
JOB_ID = "Tq3Hn0vXb2kLw8YpRz5MfA7cJd1Ue4Gs"


def _readable(message: dict[str, Any]) -> dict[str, Any]:
    return {**message, "body": json.loads(base64.b64decode(message["body"]))}


def _ids(message: dict[str, Any]) -> list[str]:
    """The embed task's ID, the chained search task's, and the delivery tag."""
    (search,) = message["body"][2]["chain"]
    return [
        message["headers"]["id"],
        search["options"]["task_id"],
        message["properties"]["delivery_tag"],
    ]


def _without_ids(message: dict[str, Any]) -> str:
    text = json.dumps(message, sort_keys=True)
    for number, value in enumerate(_ids(message)):
        text = text.replace(value, f"id-{number}")
    return text


def test_a_templated_message_is_the_one_celery_writes_for_the_same_job() -> None:
    templated = _readable(json.loads(capture_template(SETTINGS).message(JOB_ID)))
    by_celery = _readable(published_by_celery(SETTINGS, JOB_ID))
    assert templated["body"][0] == [JOB_ID]
    assert templated["headers"]["task"] == "geopin.embed"
    assert templated["body"][2]["chain"][0]["task"] == "geopin.search"
    # Celery's own reply address differs from app to app; it is unused (no result backend).
    for message in (templated, by_celery):
        message["properties"].pop("reply_to")
        message["body"][2]["chain"][0]["options"].pop("reply_to")
    assert _without_ids(templated) == _without_ids(by_celery)


def test_every_message_has_task_ids_and_a_delivery_tag_of_its_own() -> None:
    template = capture_template(SETTINGS)
    first, second = (_readable(json.loads(template.message(JOB_ID))) for _ in range(2))
    assert len(set(_ids(first)) | set(_ids(second))) == 6
    assert first["headers"]["root_id"] == first["headers"]["id"]
    assert first["properties"]["correlation_id"] == first["headers"]["id"]


class RecordingRedis:
    def __init__(self) -> None:
        self.pushed: list[tuple[str, str]] = []

    def lpush(self, name: str, value: str) -> None:
        self.pushed.append((name, value))


def test_the_publisher_pushes_the_job_onto_the_embed_list() -> None:
    client = RecordingRedis()
    RedisLocatePublisher(SETTINGS, client)(JOB_ID)  # type: ignore[arg-type]
    ((name, value),) = client.pushed
    assert name == EMBED_QUEUE
    assert _readable(json.loads(value))["body"][0] == [JOB_ID]


def test_a_broker_that_does_not_answer_is_queue_unavailable() -> None:
    closed = redis.Redis(port=1, socket_connect_timeout=1)  # nothing listens on port 1
    with pytest.raises(QueueUnavailable, match=r"^Redis \(broker\): "):
        RedisLocatePublisher(SETTINGS, closed)(JOB_ID)
