"""The example receiver accepts what GeoPin signs and refuses everything else."""

from __future__ import annotations

from geopin.webhooks.signing import new_secret, payload, signed_headers

from examples.webhook_receiver import create_app

SECRET = new_secret()
JOB = {"job_id": "j1", "status": "failed", "error": {"code": "timeout", "message": "slow"}}
BODY = payload(JOB, "failed", "2026-01-01T00:00:00.000Z")


def test_signed_webhook_is_accepted_once_and_acknowledged_again() -> None:
    client = create_app(SECRET).test_client()
    headers = signed_headers("msg_1", BODY, [SECRET])
    assert client.post("/geopin", data=BODY, headers=headers).status_code == 204
    assert client.post("/geopin", data=BODY, headers=headers).status_code == 204


def test_forged_or_unsigned_webhook_is_refused() -> None:
    client = create_app(SECRET).test_client()
    forged = signed_headers("msg_1", BODY, [new_secret()])
    assert client.post("/geopin", data=BODY, headers=forged).status_code == 400
    assert client.post("/geopin", data=BODY).status_code == 400
