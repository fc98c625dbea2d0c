"""Drill: the notifier SIGKILLed while webhook retries are due. A replacement delivers every
webhook, under its one webhook-id, validly signed, and no receiver gets one twice."""

from __future__ import annotations

import time
from collections import Counter

from geopin.client import verify_webhook
from geopin.queue import make_celery
from geopin.webhooks.log import DeliveryStatus
from geopin.webhooks.signing import webhook_id_for
from geopin.wiring import job_store, notifier

from tests.integration.test_webhooks import SECRET, WEBHOOK_ENV, settings_for
from tests.support.receiver import Receiver, Reply
from tests.support.stack import Started, start_notifier, wait_until

JOBS = 20
RETRY_IN_S = 10.0  # long enough to see every first attempt recorded before the kill


def test_webhooks_due_while_the_notifier_is_dead_are_delivered_once_by_its_replacement(
    redis_db: str, base_env: dict[str, str], started: Started
) -> None:
    env = {
        **base_env,
        **WEBHOOK_ENV,
        "GEOPIN_REDIS__URL": redis_db,
        "GEOPIN_WEBHOOKS__SCHEDULE_S": f"[{RETRY_IN_S}, 1, 1]",
        "GEOPIN_WEBHOOKS__JITTER": "0",
    }
    settings = settings_for(redis_db, schedule_s=[RETRY_IN_S, 1, 1], jitter=0)
    store, send = job_store(settings), notifier(settings, make_celery(settings))
    first = started.start(start_notifier, env)
    # Every first attempt fails; the retries succeed.
    with Receiver([Reply(500)] * JOBS + [Reply(200)]).running() as receiver:
        job_ids = []
        for _ in range(JOBS):
            job = store.create(b"photo", 3, callback_url=receiver.url())
            ended = store.succeed(job.job_id, {"matches": [], "location": None})
            assert ended is not None
            send.start(ended)
            job_ids.append(job.job_id)

        def first_attempts_recorded() -> bool:
            return all(len(send.delivery(j).attempts) == 1 for j in job_ids)  # type: ignore[union-attr]

        wait_until(first_attempts_recorded, 60, "every first attempt recorded", first)
        first.kill()  # SIGKILL, with every job's retry waiting in the due set
        killed = time.time()
        assert len(receiver.received) == JOBS, "a retry was sent before the kill"
        time.sleep(max(0.0, killed + RETRY_IN_S - time.time()) + 1)  # the retries are due now

        second = started.start(start_notifier, env)

        def all_delivered() -> bool:
            return all(send.delivery(j).status is DeliveryStatus.DELIVERED for j in job_ids)  # type: ignore[union-attr]

        wait_until(all_delivered, 90, "every webhook delivered", second)
        received = list(receiver.received)
    assert len(received) == 2 * JOBS
    for request in received:
        event = verify_webhook(request.headers, request.body, SECRET)
        assert request.headers["webhook-id"] == webhook_id_for(event["data"]["job_id"])
    accepted = Counter(r.headers["webhook-id"] for r in received[JOBS:])  # those answered 200
    assert accepted == Counter({webhook_id_for(j): 1 for j in job_ids})
    assert second.process.poll() is None, "the replacement died"
