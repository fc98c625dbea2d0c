"""Standard Webhooks signatures, by the ``standardwebhooks`` package (docs/webhooks.md).

The receiver checks ``webhook-signature`` = ``v1,<base64 HMAC-SHA256 of id.timestamp.body>``
with the secret it was given, in constant time, and refuses timestamps more than five minutes
off, which stops replays. During a secret's rotation every delivery carries one signature per
live secret, separated by spaces, so a receiver holding either secret accepts it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

SECRET_PREFIX = "whsec_"  # noqa: S105 -- the spec's marker, not a secret


class InvalidSignature(ValueError):
    """The webhook's headers or signature do not match its body and the secret."""


def new_secret() -> str:
    """``whsec_`` and base64 of 32 random bytes (the spec asks for 24 to 64)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def webhook_id_for(job_id: str) -> str:
    """The same ID for every attempt and redelivery of a job's webhook: receivers dedupe by it.

    Derived, not random, so a notification enqueued twice still carries one ID; hashed, so
    the ID does not reveal the job ID, which is a read capability when keys are off.
    """
    return "msg_" + hashlib.sha256(f"geopin-webhook:{job_id}".encode()).hexdigest()[:32]


def signed_headers(
    webhook_id: str, body: bytes, signing_secrets: Sequence[str], now: datetime | None = None
) -> dict[str, str]:
    """The three Standard Webhooks headers for one attempt, signed with every given secret."""
    if not signing_secrets:
        raise ValueError("no secret to sign with")
    at = now or datetime.now(UTC)
    text = body.decode()
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": " ".join(
            Webhook(secret).sign(webhook_id, at, text) for secret in signing_secrets
        ),
        "content-type": "application/json",
    }


def verify(headers: Mapping[str, str], body: bytes, secret: str) -> Any:
    """The webhook's JSON payload, once its signature and timestamp have been checked."""
    try:
        return Webhook(secret).verify(body, dict(headers))
    except (WebhookVerificationError, ValueError) as exc:  # malformed base64 is a ValueError
        raise InvalidSignature(str(exc) or "invalid webhook signature") from exc


def payload(public_job: dict[str, Any], status: str, ended_at: str) -> bytes:
    """The event a receiver gets: its type, when it happened, and the job as the API shows it."""
    event = {"type": f"job.{status}", "timestamp": ended_at, "data": public_job}
    return json.dumps(event, separators=(",", ":")).encode()
