"""Delivering a job's webhook: one signed attempt at a time, retried on the spec's schedule.

The notifier's Celery task calls :meth:`Notifier.attempt` with IDs only; everything it needs
(the job, the delivery's state, the secret) is read afresh, so a task delivered twice, or
one that outlived its round, finds out and does nothing (see :mod:`geopin.webhooks.log`).
"""

from __future__ import annotations

import http.client
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from geopin.jobs import Job, JobStore
from geopin.settings import WebhookSettings
from geopin.webhooks.due import DueAttempt, DueSet
from geopin.webhooks.http import Answer, Unreachable, post
from geopin.webhooks.log import Attempt, Delivery, DeliveryLog, DeliveryStatus
from geopin.webhooks.signing import payload, signed_headers, webhook_id_for
from geopin.webhooks.ssrf import CallbackRefused, SsrfGuard

log = logging.getLogger(__name__)

CLAIM_MARGIN_S = 30  # beyond the delivery's time limit, before a stuck attempt may be redone


class NoSigningSecret(CallbackRefused):
    """Nothing could sign the webhook: keys are off and no deployment secret is set."""


@dataclass(frozen=True)
class Outcome:
    """What one attempt came to: the receiver's status code, or why there was none."""

    status_code: int | None = None
    error: str | None = None
    retry_after_s: float | None = None
    final: bool = False  # retrying cannot help (refused by the guard, no secret)

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def next_delay(
    attempt: int, outcome: Outcome, settings: WebhookSettings, rng: Callable[[], float]
) -> float | None:
    """Seconds until attempt ``attempt + 1``, or None when this round is over.

    Any non-2xx, 3xx included, is a failure; 410 Gone means the receiver wants no more.
    A Retry-After longer than the schedule's delay wins, up to ``max_retry_after_s``.
    """
    if outcome.delivered or outcome.final or outcome.status_code == 410:
        return None
    if attempt > len(settings.schedule_s):
        return None
    spread = 1 + settings.jitter * (2 * rng() - 1)
    delay = settings.schedule_s[attempt - 1] * spread
    if outcome.retry_after_s is not None:
        delay = max(delay, min(outcome.retry_after_s, settings.max_retry_after_s))
    return delay


def _status(outcome: Outcome, delay: float | None) -> DeliveryStatus:
    if outcome.delivered:
        return DeliveryStatus.DELIVERED
    if outcome.status_code == 410:
        return DeliveryStatus.DISABLED
    return DeliveryStatus.FAILED if delay is None else DeliveryStatus.PENDING


def _iso(unix_s: float) -> str:
    return (
        datetime.fromtimestamp(unix_s, UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


class Notifier:
    """Starts delivery rounds for ended jobs and makes their attempts."""

    def __init__(
        self,
        jobs: JobStore,
        deliveries: DeliveryLog,
        due: DueSet,
        send: Callable[[DueAttempt], None],
        guard: SsrfGuard,
        signing_secrets: Callable[[str | None], list[str]],
        settings: WebhookSettings,
        poster: Callable[..., Answer] = post,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self._jobs, self._deliveries, self._due, self._send = jobs, deliveries, due, send
        self._guard, self._secrets, self._settings = guard, signing_secrets, settings
        self._post, self._rng = poster, rng

    def check_callback(self, url: str, owner: str | None) -> None:
        """Refuse at submission what can be decided then; each attempt checks again."""
        if not self._secrets(owner):
            raise NoSigningSecret(
                "this deployment has no webhook signing secret (GEOPIN_WEBHOOKS__SECRET)"
            )
        self._guard.check(url)

    def delivery(self, job_id: str) -> Delivery | None:
        return self._deliveries.get(job_id)

    def start(self, job: Job) -> int | None:
        """Open a round for a job that has ended and has a callback; returns the round."""
        if job.callback_url is None or not job.status.is_terminal:
            return None
        round_ = self._deliveries.start_round(job.job_id, webhook_id_for(job.job_id))
        self._send(DueAttempt(job.job_id, round_, 1))
        return round_

    def attempt(self, job_id: str, round_: int, attempt: int) -> None:
        """Make attempt ``attempt`` of round ``round_``, unless it is stale or already made."""
        job = self._jobs.get(job_id)
        delivery = self._deliveries.get(job_id)
        if job is None or job.callback_url is None or delivery is None:
            return  # expired with its job
        if delivery.round != round_ or delivery.status is not DeliveryStatus.PENDING:
            return  # a redelivery superseded this round, or the round is over
        if any((a.round, a.attempt) == (round_, attempt) for a in delivery.attempts):
            return  # made already; this task is a second delivery of it
        claim_ttl = int(self._settings.timeout_s) + CLAIM_MARGIN_S
        if not self._deliveries.claim(job_id, round_, attempt, claim_ttl):
            # Another notifier is making it, or died making it and its task was requeued
            # (geopin.liveness) before the claim lapsed: look again once it has, when a
            # recorded attempt means it was made and a missing one that it must be made.
            self._due.add(DueAttempt(job_id, round_, attempt), time.time() + claim_ttl)
            return
        outcome = self._try(job, delivery.webhook_id)
        delay = next_delay(attempt, outcome, self._settings, self._rng)
        now = time.time()
        record = Attempt(
            round=round_,
            attempt=attempt,
            at=_iso(now),
            status_code=outcome.status_code,
            error=outcome.error,
            next_attempt_at=_iso(now + delay) if delay is not None else None,
        )
        status = _status(outcome, delay)
        self._deliveries.record(job_id, record, status)
        log.info("webhook of job %s, round %d attempt %d: %s", job_id, round_, attempt, status)
        if delay is not None:
            self._due.add(DueAttempt(job_id, round_, attempt + 1), now + delay)

    def _try(self, job: Job, webhook_id: str) -> Outcome:
        signing_secrets = self._secrets(job.owner)
        if not signing_secrets:
            return Outcome(error="no webhook secret to sign with (key revoked?)", final=True)
        try:
            target, addresses = self._guard.check(job.callback_url or "")
        except CallbackRefused as exc:
            return Outcome(error=str(exc), final=True)
        body = payload(job.public(), job.status.value, job.updated_at)
        headers = signed_headers(webhook_id, body, signing_secrets)
        error = "no address to try"
        for address in addresses:  # each one checked by the guard; the next only if unreachable
            try:
                answer = self._post(
                    target,
                    address,
                    body,
                    headers,
                    self._settings.timeout_s,
                    self._settings.max_response_bytes,
                )
            except Unreachable as exc:
                error = str(exc)
                continue
            except (OSError, http.client.HTTPException) as exc:
                return Outcome(error=f"{type(exc).__name__}: {exc}")
            return Outcome(status_code=answer.status, retry_after_s=answer.retry_after_s)
        return Outcome(error=error)
