"""Webhooks end to end: real gateway, workers, notifier, Redis and a receiver on loopback."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from celery import Celery
from flask.testing import FlaskClient
from geopin.client import GeoPinClient, verify_webhook
from geopin.pipeline import fail_job
from geopin.queue import enqueue_locate, make_celery
from geopin.settings import Settings
from geopin.webhooks.delivery import Notifier
from geopin.webhooks.log import Delivery, DeliveryStatus
from geopin.webhooks.signing import new_secret, webhook_id_for
from geopin.wiring import job_store, key_store, notifier
from geopin_gateway.app import create_app
from werkzeug.test import TestResponse

from tests.support.factories import encode, place_photo
from tests.support.receiver import Receiver, Reply
from tests.support.stack import (
    start_embedder,
    start_gateway,
    start_notifier,
    start_searcher,
    wait_until,
)

SECRET = new_secret()
PUBLIC_CALLBACK = "https://93.184.216.34/hook"  # a global address; nothing calls it in these tests
# The one opening in the SSRF guard the tests need; production leaves it empty.
WEBHOOK_ENV = {
    "GEOPIN_WEBHOOKS__SECRET": SECRET,
    "GEOPIN_WEBHOOKS__INSECURE_ALLOW_NETWORKS": '["127.0.0.1/32"]',
    "GEOPIN_WEBHOOKS__SCHEDULE_S": "[0.2, 0.2, 0.2]",  # the spec's schedule, compressed
    "GEOPIN_WEBHOOKS__POLL_INTERVAL_S": "0.1",
}


def settings_for(redis_db: str, **webhooks: object) -> Settings:
    return Settings(
        redis={"url": redis_db},
        webhooks={"secret": SECRET, "insecure_allow_networks": ["127.0.0.1/32"], **webhooks},
    )


def delivery_of(settings: Settings, job_id: str) -> Delivery:
    delivery = notifier(settings, make_celery(settings)).delivery(job_id)
    assert delivery is not None
    return delivery


def delivered(settings: Settings, job_id: str) -> bool:
    return delivery_of(settings, job_id).status is DeliveryStatus.DELIVERED


def succeeded_with_webhook_started(settings: Settings, celery: Celery, callback_url: str) -> str:
    """A job that succeeded with ``callback_url``, its webhook's round 1 opened; its ID."""
    store = job_store(settings)
    job = store.create(b"photo", 3, callback_url=callback_url)
    ended = store.succeed(job.job_id, {"matches": [], "location": None})
    assert ended is not None
    notifier(settings, celery).start(ended)
    return job.job_id


@pytest.fixture
def env(redis_db: str, base_env: dict[str, str]) -> dict[str, str]:
    return {**base_env, **WEBHOOK_ENV, "GEOPIN_REDIS__URL": redis_db}


@pytest.fixture
def notifier_worker(env: dict[str, str], tmp_path: Path) -> Iterator[None]:
    service = start_notifier(env, tmp_path)
    try:
        yield
    finally:
        service.stop()


def test_located_job_is_delivered_signed_shown_on_the_job_and_redelivered(
    env: dict[str, str], reference_manifest: Path, tmp_path: Path, notifier_worker: None
) -> None:
    services = [start_embedder(env, tmp_path), start_searcher(env, tmp_path)]
    try:
        gateway, url = start_gateway(env, tmp_path)
        services.append(gateway)
        client = GeoPinClient(url)
        with Receiver().running() as receiver:
            photo = reference_manifest.parent / "place-004.jpg"
            job_id = client.submit(photo, top_k=2, callback_url=receiver.url("/geopin?x=1"))
            wait_until(lambda: len(receiver.received) == 1, 90, "the webhook", services[0])
            first = receiver.received[0]
            assert first.path == "/geopin?x=1"
            event = verify_webhook(first.headers, first.body, SECRET)
            assert event["type"] == "job.succeeded"
            assert event["data"]["result"]["matches"][0]["id"] == "place-004"
            assert first.headers["webhook-id"] == webhook_id_for(job_id)

            def delivered() -> bool:
                return client.get(job_id)["webhook"]["status"] == "delivered"

            wait_until(delivered, 10, "the attempt recorded")
            job = client.get(job_id)
            assert job["callback_url"] == receiver.url("/geopin?x=1")
            assert [
                (a["round"], a["attempt"], a["status_code"]) for a in job["webhook"]["attempts"]
            ] == [(1, 1, 204)]

            again = client.redeliver(job_id)
            assert again["webhook"]["round"] == 2
            wait_until(lambda: len(receiver.received) == 2, 30, "the redelivery")
            assert receiver.received[1].headers["webhook-id"] == first.headers["webhook-id"]
            wait_until(delivered, 10, "the redelivery recorded")
            assert len(client.get(job_id)["webhook"]["attempts"]) == 2
    finally:
        for service in services:
            service.stop()


def test_job_failed_by_its_pipeline_step_is_retried_until_delivered(
    env: dict[str, str], redis_db: str, tmp_path: Path, notifier_worker: None
) -> None:
    settings = settings_for(redis_db)
    embedder = start_embedder(env, tmp_path)
    replies = [Reply(500), Reply(503, {"Retry-After": "1"}), Reply(200)]
    try:
        with Receiver(replies).running() as receiver:
            store = job_store(settings)
            job = store.create(b"\xff\xd8 not really a JPEG", 3, callback_url=receiver.url())
            enqueue_locate(make_celery(settings), job.job_id)
            wait_until(lambda: len(receiver.received) == 3, 90, "three attempts", embedder)
            events = [verify_webhook(r.headers, r.body, SECRET) for r in receiver.received]
            assert {e["type"] for e in events} == {"job.failed"}
            assert events[0]["data"]["error"]["code"] in (
                "undecodable-image",
                "unsupported-image-type",
            )
            assert len({r.headers["webhook-id"] for r in receiver.received}) == 1
            assert receiver.received[2].at - receiver.received[1].at >= 1.0  # Retry-After
            wait_until(lambda: delivered(settings, job.job_id), 10, "delivered")
            attempts = delivery_of(settings, job.job_id).attempts
            assert [a.status_code for a in attempts] == [500, 503, 200]
    finally:
        embedder.stop()


def test_webhook_of_a_keyed_job_is_signed_with_both_secrets_while_rotating(
    redis_db: str, notifier_worker: None
) -> None:
    settings = settings_for(redis_db, secret=None)
    keys = key_store(settings)
    _, key = keys.create("acme")
    celery = make_celery(settings)
    store = job_store(settings)
    with Receiver().running() as receiver:
        job = store.create(b"photo", 3, owner=key.key_id, callback_url=receiver.url())
        fail_job(store, notifier(settings, celery), job.job_id, "index-missing", "no references")
        wait_until(lambda: len(receiver.received) == 1, 30, "the webhook")
        verify_webhook(receiver.received[0].headers, receiver.received[0].body, key.webhook_secret)

        rotated = keys.rotate_webhook_secret(key.key_id, grace_s=3600)
        assert rotated is not None
        notifier(settings, celery).start(store.get(job.job_id))  # a redelivery
        wait_until(lambda: len(receiver.received) == 2, 30, "the redelivery")
        second = receiver.received[1]
        for secret in (rotated.webhook_secret, key.webhook_secret):
            assert verify_webhook(second.headers, second.body, secret)["type"] == "job.failed"


def test_an_attempt_task_delivered_again_after_its_send_posts_nothing(
    redis_db: str, notifier_worker: None
) -> None:
    settings = settings_for(redis_db)
    celery = make_celery(settings)
    with Receiver([Reply(200, delay_s=0.5)]).running() as receiver:
        job_id = succeeded_with_webhook_started(settings, celery, receiver.url())
        celery.send_task("geopin.webhook", args=(job_id, 1, 1), queue="webhooks")
        wait_until(lambda: len(receiver.received) == 1, 30, "the webhook")
        wait_until(lambda: delivered(settings, job_id), 10, "delivered")
        celery.send_task("geopin.webhook", args=(job_id, 1, 1), queue="webhooks")
        broker = redis.Redis.from_url(redis_db)
        wait_until(
            lambda: broker.llen("webhooks") == 0 and broker.hlen("unacked") == 0,
            10,
            "the second task handled",
        )
        assert len(receiver.received) == 1


def test_two_racing_sends_of_one_attempt_post_it_once(redis_db: str) -> None:
    settings = settings_for(redis_db)
    celery = make_celery(settings)
    # The receiver answers after 2 s, so neither send has recorded the attempt when the
    # other checks for it: only the claim in Redis stands between them.
    with Receiver([Reply(200, delay_s=2)]).running() as receiver:
        # Its first attempt's task waits in the queue: no worker consumes it here.
        job_id = succeeded_with_webhook_started(settings, celery, receiver.url())
        workers = [notifier(settings, celery) for _ in range(2)]
        start_together = threading.Barrier(len(workers))

        def send(worker: Notifier) -> None:
            start_together.wait()
            worker.attempt(job_id, 1, 1)

        threads = [threading.Thread(target=send, args=(worker,)) for worker in workers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert len(receiver.received) == 1
    attempts = delivery_of(settings, job_id).attempts
    assert [(a.attempt, a.status_code) for a in attempts] == [(1, 200)]


JPEG = encode(place_photo(2))


def submit_with_callback(client: FlaskClient, callback_url: str) -> TestResponse:
    return client.post(
        "/v1/jobs",
        data=JPEG,
        content_type="image/jpeg",
        query_string={"callback_url": callback_url},
    )


@pytest.fixture
def gateway_client(redis_db: str, es_server: str, es_index: str) -> FlaskClient:
    settings = Settings(
        redis={"url": redis_db},
        elasticsearch={"url": es_server, "index": es_index},
        webhooks={"secret": SECRET},
    )
    return create_app(settings).test_client()


@pytest.mark.parametrize(
    "callback_url",
    [
        "http://127.0.0.1:9/hook",
        "http://localhost/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:10.0.0.1]/hook",
        "http://[fd00::1]/hook",
        "ftp://example.com/hook",
        "https://no-such-host.invalid/hook",
    ],
    ids=["loopback", "localhost", "metadata", "mapped", "unique-local", "ftp", "unresolvable"],
)
def test_callback_refused_at_submission_without_the_test_setting(
    gateway_client: FlaskClient, callback_url: str
) -> None:
    response = submit_with_callback(gateway_client, callback_url)
    assert response.status_code == 400
    assert response.get_json()["code"] == "callback-url-refused"


def test_callback_without_a_signing_secret_is_refused_at_submission(
    redis_db: str, es_server: str, es_index: str
) -> None:
    client = create_app(
        Settings(redis={"url": redis_db}, elasticsearch={"url": es_server, "index": es_index})
    ).test_client()
    response = submit_with_callback(client, PUBLIC_CALLBACK)
    assert response.status_code == 400
    assert response.get_json()["code"] == "webhooks-not-configured"


def test_redelivery_of_an_unfinished_job_is_409(gateway_client: FlaskClient) -> None:
    response = submit_with_callback(gateway_client, PUBLIC_CALLBACK)
    assert response.status_code == 202, response.get_json()
    job_url = response.headers["Location"]
    again = gateway_client.post(job_url + "/redeliver")
    assert again.status_code == 409
    assert again.get_json()["code"] == "job-not-finished"
    assert json.loads(gateway_client.get(job_url).data)["webhook"] == {"status": "waiting-for-job"}


def test_redelivery_of_an_ended_job_without_a_callback_is_409(
    gateway_client: FlaskClient,
) -> None:
    response = gateway_client.post("/v1/jobs", data=JPEG, content_type="image/jpeg")
    assert response.status_code == 202, response.get_json()
    job_id = response.get_json()["job_id"]
    store = gateway_client.application.extensions["geopin"].store
    assert store.fail(job_id, "index-missing", "no references") is not None
    again = gateway_client.post(f"/v1/jobs/{job_id}/redeliver")
    assert again.status_code == 409
    assert again.get_json()["code"] == "no-callback"


def test_a_job_failed_by_its_task_starts_its_webhook_exactly_once(
    redis_db: str,
) -> None:
    from geopin.jobs import Job, JobStore
    from geopin.per_process import PerProcess
    from geopin.queue.job_task import JobTask

    class Recording:
        def __init__(self) -> None:
            self.started: list[Job] = []

        def start(self, job: Job) -> None:
            self.started.append(job)

    @dataclass(frozen=True)
    class Parts:
        store: JobStore
        notifier: Recording

    parts = Parts(job_store(settings_for(redis_db)), Recording())
    job = parts.store.create(b"photo", 3, callback_url=PUBLIC_CALLBACK)

    # As the workers declare theirs: a PerProcess, which Celery does not bind like a function.
    declared = PerProcess(lambda: parts)

    @make_celery(settings_for(redis_db)).task(name="broken", base=JobTask, parts=declared)
    def broken(job_id: str) -> None:
        raise RuntimeError("boom")

    for _ in range(2):  # the second is a redelivered task failing again
        assert broken.apply(args=(job.job_id,)).state == "FAILURE"
    assert [(j.job_id, j.error.code if j.error else None) for j in parts.notifier.started] == [
        (job.job_id, "internal-error")
    ]
