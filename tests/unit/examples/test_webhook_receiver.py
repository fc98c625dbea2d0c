"""The example receiver accepts what GeoPin signs, once per webhook-id, and refuses the rest."""

from __future__ import annotations

import pytest
from geopin.webhooks.signing import new_secret, payload, signed_headers

from examples.webhook_receiver import create_app

SECRET = new_secret()
JOB = {"job_id": "j1", "status": "failed", "error": {"code": "timeout", "message": "slow"}}
BODY = payload(JOB, "failed", "2026-01-01T00:00:00.000Z")


def _handled(caplog: pytest.LogCaptureFixture) -> list[str]:
    """What the receiver acted on: it logs each job it handles."""
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith("job ")]


def test_a_repeated_webhook_id_is_acknowledged_but_handled_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = create_app(SECRET).test_client()
    headers = signed_headers("msg_1", BODY, [SECRET])
    assert client.post("/geopin", data=BODY, headers=headers).status_code == 204
    assert client.post("/geopin", data=BODY, headers=headers).status_code == 204  # a retry
    assert _handled(caplog) == ["job j1 failed: timeout"]
    another = signed_headers("msg_2", BODY, [SECRET])
    assert client.post("/geopin", data=BODY, headers=another).status_code == 204
    assert _handled(caplog) == ["job j1 failed: timeout"] * 2


def test_forged_or_unsigned_webhook_is_refused() -> None:
    client = create_app(SECRET).test_client()
    forged = signed_headers("msg_1", BODY, [new_secret()])
    assert client.post("/geopin", data=BODY, headers=forged).status_code == 400
    assert client.post("/geopin", data=BODY).status_code == 400
