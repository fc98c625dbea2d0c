"""Signatures a Standard Webhooks receiver accepts, and the forgeries it must refuse."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
from geopin.webhooks.signing import (
    InvalidSignature,
    new_secret,
    signed_headers,
    verify,
    webhook_id_for,
)

BODY = b'{"type":"job.succeeded","data":{"job_id":"j"}}'


def test_secret_has_the_spec_prefix_and_enough_random_bytes() -> None:
    secret = new_secret()
    assert secret.startswith("whsec_")
    assert 24 <= len(base64.b64decode(secret.removeprefix("whsec_"))) <= 64
    assert new_secret() != secret


def test_signed_webhook_verifies_with_its_secret() -> None:
    secret = new_secret()
    headers = signed_headers("msg_1", BODY, [secret])
    assert verify(headers, BODY, secret) == {"type": "job.succeeded", "data": {"job_id": "j"}}


@pytest.mark.parametrize(
    "forge",
    [
        lambda h, b: (h, b.replace(b'"j"', b'"k"')),
        lambda h, b: ({**h, "webhook-id": "msg_2"}, b),
        lambda h, b: ({**h, "webhook-timestamp": str(int(h["webhook-timestamp"]) + 1)}, b),
        lambda h, b: ({**h, "webhook-signature": "v1,AAAA"}, b),
        lambda h, b: ({**h, "webhook-signature": "garbage"}, b),
        lambda h, b: ({k: v for k, v in h.items() if k != "webhook-signature"}, b),
    ],
    ids=["body", "id", "timestamp", "signature", "malformed", "unsigned"],
)
def test_any_change_breaks_the_signature(forge: object) -> None:
    secret = new_secret()
    headers, body = forge(signed_headers("msg_1", BODY, [secret]), BODY)  # type: ignore[operator]
    with pytest.raises(InvalidSignature):
        verify(headers, body, secret)


def test_other_secret_is_refused() -> None:
    with pytest.raises(InvalidSignature):
        verify(signed_headers("msg_1", BODY, [new_secret()]), BODY, new_secret())


def test_replay_older_than_five_minutes_is_refused() -> None:
    secret = new_secret()
    old = datetime.now(UTC) - timedelta(minutes=6)
    with pytest.raises(InvalidSignature, match="too old"):
        verify(signed_headers("msg_1", BODY, [secret], now=old), BODY, secret)


def test_during_rotation_both_secrets_verify() -> None:
    new, old = new_secret(), new_secret()
    headers = signed_headers("msg_1", BODY, [new, old])
    assert len(headers["webhook-signature"].split(" ")) == 2
    assert verify(headers, BODY, new) == verify(headers, BODY, old)


def test_webhook_id_is_stable_per_job_and_hides_the_job_id() -> None:
    assert webhook_id_for("job-a") == webhook_id_for("job-a") != webhook_id_for("job-b")
    assert "job-a" not in webhook_id_for("job-a")
