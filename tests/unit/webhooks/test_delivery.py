"""One attempt at a time against a real receiver on loopback; fakes only for the stores."""

from __future__ import annotations

import ipaddress
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from geopin.jobs import Job, JobStatus, StatusChange, utc_now
from geopin.settings import WebhookSettings
from geopin.webhooks.delivery import (
    CLAIM_MARGIN_S,
    NoSigningSecret,
    Notifier,
    Outcome,
    next_delay,
)
from geopin.webhooks.due import DueAttempt
from geopin.webhooks.http import Answer, post
from geopin.webhooks.log import Attempt, Delivery, DeliveryStatus
from geopin.webhooks.signing import new_secret, verify, webhook_id_for
from geopin.webhooks.ssrf import CallbackRefused, SsrfGuard

from tests.support.receiver import Receiver, Reply

SECRET = new_secret()
LOOPBACK = [ipaddress.ip_network("127.0.0.1/32")]


class MemoryDeliveries:
    def __init__(self) -> None:
        self.deliveries: dict[str, Delivery] = {}
        self.claims: set[tuple[str, int, int]] = set()

    def start_round(self, job_id: str, webhook_id: str) -> int:
        old = self.deliveries.get(job_id)
        round_ = old.round + 1 if old else 1
        attempts = old.attempts if old else []
        self.deliveries[job_id] = Delivery(webhook_id, round_, DeliveryStatus.PENDING, attempts)
        return round_

    def get(self, job_id: str) -> Delivery | None:
        return self.deliveries.get(job_id)

    def claim(self, job_id: str, round_: int, attempt: int, ttl_s: int) -> bool:
        if (job_id, round_, attempt) in self.claims:
            return False
        self.claims.add((job_id, round_, attempt))
        return True

    def record(self, job_id: str, attempt: Attempt, status: DeliveryStatus) -> None:
        delivery = self.deliveries[job_id]
        delivery.attempts.append(attempt)
        if delivery.round == attempt.round:
            delivery.status = status


class MemoryDue:
    def __init__(self) -> None:
        self.entries: list[tuple[DueAttempt, float]] = []

    def add(self, due: DueAttempt, at: float) -> None:
        self.entries.append((due, at))


class Jobs:
    def __init__(self, job: Job) -> None:
        self.job = job

    def get(self, job_id: str) -> Job | None:
        return self.job if job_id == self.job.job_id else None


def ended_job(callback_url: str) -> Job:
    job = Job(job_id="job-1", top_k=3, callback_url=callback_url)
    job.status, job.result = JobStatus.SUCCEEDED, {"matches": [], "location": None}
    job.history.append(StatusChange(JobStatus.SUCCEEDED, utc_now()))
    return job


class Harness:
    """A notifier over in-memory stores, with a resolver that answers from a list."""

    def __init__(
        self,
        url: str,
        answers: list[list[str]],
        poster: Callable[..., Answer] = post,
        **settings: object,
    ) -> None:
        self.answers = answers
        self.lookups = 0
        self.deliveries, self.due, self.sent = MemoryDeliveries(), MemoryDue(), []
        self.job = ended_job(url)
        self.notifier = Notifier(
            jobs=Jobs(self.job),  # type: ignore[arg-type]
            deliveries=self.deliveries,
            due=self.due,  # type: ignore[arg-type]
            send=self.sent.append,
            guard=SsrfGuard(resolver=self._resolve, allow=LOOPBACK),
            signing_secrets=lambda owner: [SECRET],
            settings=WebhookSettings(**{"schedule_s": [0.1, 0.1], "timeout_s": 2, **settings}),
            poster=poster,
            rng=lambda: 0.5,
        )

    def _resolve(self, host: str, port: int) -> list[str]:
        answer = self.answers[min(self.lookups, len(self.answers) - 1)]
        self.lookups += 1
        return answer

    def start_and_attempt(self) -> Delivery:
        self.notifier.start(self.job)
        self.notifier.attempt("job-1", 1, 1)
        delivery = self.deliveries.get("job-1")
        assert delivery is not None
        return delivery


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver().running() as running:
        yield running


def test_delivery_goes_to_the_checked_address_signed_with_the_original_host(
    receiver: Receiver,
) -> None:
    # The name does not resolve on this machine: only a connection to the address the guard
    # checked can reach the receiver, and a second lookup would get a private address.
    harness = Harness(receiver.url(host="hooks.receiver.test"), [["127.0.0.1"], ["10.0.0.9"]])
    delivery = harness.start_and_attempt()
    assert harness.lookups == 1
    assert delivery.status is DeliveryStatus.DELIVERED
    assert [(a.attempt, a.status_code) for a in delivery.attempts] == [(1, 204)]
    (request,) = receiver.received
    assert request.headers["host"] == f"hooks.receiver.test:{receiver.port}"
    assert request.headers["webhook-id"] == webhook_id_for("job-1")
    event = verify(request.headers, request.body, SECRET)
    assert event["type"] == "job.succeeded"
    assert event["data"]["job_id"] == "job-1"


def test_answer_that_changes_to_a_private_address_after_submission_is_refused(
    receiver: Receiver,
) -> None:
    harness = Harness(receiver.url(host="hooks.receiver.test"), [["93.184.216.34"], ["10.0.0.9"]])
    harness.notifier.check_callback(harness.job.callback_url or "", None)  # at submission
    delivery = harness.start_and_attempt()  # at delivery the name now means 10.0.0.9
    assert delivery.status is DeliveryStatus.FAILED
    assert "10.0.0.9, a private address" in (delivery.attempts[0].error or "")
    assert receiver.received == []
    assert harness.due.entries == []  # a refusal is not retried


def test_redirect_to_a_private_address_is_not_followed() -> None:
    with (
        Receiver().running() as private,
        Receiver([Reply(302, {"Location": private.url("/admin")})]).running() as redirecting,
    ):
        harness = Harness(redirecting.url(), [["127.0.0.1"]])
        delivery = harness.start_and_attempt()
        assert len(redirecting.received) == 1
        assert private.received == []
    assert delivery.attempts[0].status_code == 302
    assert delivery.status is DeliveryStatus.PENDING  # a 3xx is a failure, retried later
    assert [due for due, _ in harness.due.entries] == [DueAttempt("job-1", 1, 2)]


def test_gone_disables_the_endpoint_with_no_retry() -> None:
    with Receiver([Reply(410)]).running() as gone:
        delivery = Harness(gone.url(), [["127.0.0.1"]]).start_and_attempt()
    assert delivery.status is DeliveryStatus.DISABLED
    assert delivery.attempts[0].next_attempt_at is None


def test_retry_after_longer_than_the_schedule_sets_the_next_attempt() -> None:
    with Receiver([Reply(503, {"Retry-After": "120"})]).running() as busy:
        harness = Harness(busy.url(), [["127.0.0.1"]])
        before = time.time()
        harness.start_and_attempt()
    ((due, at),) = harness.due.entries
    assert due == DueAttempt("job-1", 1, 2)
    assert before + 119 < at < time.time() + 121


def test_failures_are_retried_on_the_schedule_then_given_up() -> None:
    with Receiver([Reply(500)]).running() as broken:
        harness = Harness(broken.url(), [["127.0.0.1"]])
        harness.start_and_attempt()
        for _ in range(2):
            ((due, _at),) = harness.due.entries
            harness.due.entries.clear()
            harness.notifier.attempt(due.job_id, due.round, due.attempt)
        assert len(broken.received) == 3
    delivery = harness.deliveries.get("job-1")
    assert delivery is not None
    assert delivery.status is DeliveryStatus.FAILED
    assert [a.attempt for a in delivery.attempts] == [1, 2, 3]
    assert harness.due.entries == []
    ids = {r.headers["webhook-id"] for r in broken.received}
    assert ids == {webhook_id_for("job-1")}  # stable across retries


def test_a_task_delivered_twice_sends_once(receiver: Receiver) -> None:
    harness = Harness(receiver.url(), [["127.0.0.1"]])
    harness.start_and_attempt()
    harness.notifier.attempt("job-1", 1, 1)
    assert len(receiver.received) == 1


def test_an_attempt_claimed_by_a_notifier_that_died_is_made_once_the_claim_lapses(
    receiver: Receiver,
) -> None:
    harness = Harness(receiver.url(), [["127.0.0.1"]])
    harness.notifier.start(harness.job)
    harness.deliveries.claims.add(("job-1", 1, 1))  # claimed; its notifier died mid-send
    before = time.time()
    harness.notifier.attempt("job-1", 1, 1)  # the dead notifier's task, requeued at once
    assert receiver.received == []
    [(due, at)] = harness.due.entries
    assert due == DueAttempt("job-1", 1, 1)
    assert at >= before + 2 + CLAIM_MARGIN_S  # after the claim (time limit + margin) lapses
    harness.deliveries.claims.clear()  # it lapsed
    harness.notifier.attempt("job-1", 1, 1)
    assert len(receiver.received) == 1
    assert harness.deliveries.deliveries["job-1"].status is DeliveryStatus.DELIVERED


def test_attempt_of_a_superseded_round_is_skipped(receiver: Receiver) -> None:
    harness = Harness(receiver.url(), [["127.0.0.1"]])
    harness.notifier.start(harness.job)
    harness.notifier.start(harness.job)  # a redelivery opened round 2
    harness.notifier.attempt("job-1", 1, 1)
    assert receiver.received == []
    assert harness.sent == [DueAttempt("job-1", 1, 1), DueAttempt("job-1", 2, 1)]


def test_a_slow_receiver_is_cut_off_at_the_time_limit() -> None:
    with Receiver([Reply(200, delay_s=3)]).running() as slow:
        harness = Harness(slow.url(), [["127.0.0.1"]], timeout_s=0.5)
        started = time.monotonic()
        delivery = harness.start_and_attempt()
        assert time.monotonic() - started < 2
    assert "timed out" in (delivery.attempts[0].error or "")
    assert delivery.status is DeliveryStatus.PENDING


def test_a_long_slow_answer_is_read_only_up_to_the_size_limit() -> None:
    # Sent whole, this answer would take 40 s, beyond the delivery's time limit: only the
    # size limit ends the attempt early, and as delivered.
    long_and_slow = Reply(200, body=b"x" * 4_000_000, trickle_s=0.01)
    with Receiver([long_and_slow]).running() as chatty:
        harness = Harness(chatty.url(), [["127.0.0.1"]], timeout_s=10, max_response_bytes=1024)
        started = time.monotonic()
        delivery = harness.start_and_attempt()
        assert time.monotonic() - started < 5
    assert delivery.status is DeliveryStatus.DELIVERED
    assert delivery.attempts[0].error is None


def test_https_delivery_sends_the_original_name_for_sni_and_certificate(tmp_path: Path) -> None:
    import ssl

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", "/CN=hooks.receiver.test"),
            *("-addext", "subjectAltName=DNS:hooks.receiver.test"),
            *("-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    receiver = Receiver()
    receiver.use_tls(str(cert), str(key))
    trusting = ssl.create_default_context(cafile=str(cert))
    with receiver.running():
        harness = Harness(
            receiver.url(host="hooks.receiver.test"),
            [["127.0.0.1"]],
            poster=lambda *args: post(*args, tls=trusting),
        )
        delivery = harness.start_and_attempt()
    assert delivery.status is DeliveryStatus.DELIVERED
    assert receiver.received[0].server_name == "hooks.receiver.test"


def test_no_secret_refuses_the_callback_at_submission() -> None:
    harness = Harness("https://hooks.example.com/", [["93.184.216.34"]])
    harness.notifier._secrets = lambda owner: []  # type: ignore[method-assign]
    with pytest.raises(NoSigningSecret):
        harness.notifier.check_callback("https://hooks.example.com/", None)


def test_private_callback_is_refused_at_submission() -> None:
    harness = Harness("https://hooks.example.com/", [["192.168.0.10"]])
    with pytest.raises(CallbackRefused, match="private"):
        harness.notifier.check_callback("https://hooks.example.com/", None)


@pytest.mark.parametrize(("draw", "factor"), [(0.0, 0.8), (0.5, 1.0), (1.0, 1.2)])
def test_retry_delay_is_the_schedule_scaled_by_jitter(draw: float, factor: float) -> None:
    settings = WebhookSettings(schedule_s=[5, 300], jitter=0.2)
    assert next_delay(2, Outcome(status_code=500), settings, lambda: draw) == pytest.approx(
        300 * factor
    )
    assert next_delay(3, Outcome(status_code=500), settings, lambda: draw) is None


def test_retry_after_is_capped() -> None:
    settings = WebhookSettings(schedule_s=[5], jitter=0, max_retry_after_s=60)
    outcome = Outcome(status_code=429, retry_after_s=86400)
    assert next_delay(1, outcome, settings, lambda: 0.5) == 60
