"""A minimal receiver of GeoPin webhooks that checks every signature.

Run it with the secret of your API key (or the deployment's GEOPIN_WEBHOOKS__SECRET):

    GEOPIN_WEBHOOK_SECRET=whsec_... flask --app examples/webhook_receiver.py run --port 9000

and submit with ``callback_url=https://<where it is reachable>/geopin``. What it shows:
verify the raw body before parsing it, refuse with 400 what does not verify, treat the
``webhook-id`` as an idempotency key (retries and redeliveries repeat it), and answer 2xx
quickly: slow work belongs in your own queue, since GeoPin waits at most 15 s.
"""

from __future__ import annotations

import os

from flask import Flask, Response, request
from geopin.client import InvalidSignature, verify_webhook


def create_app(secret: str | None = None) -> Flask:
    app = Flask(__name__)
    secret = secret or os.environ["GEOPIN_WEBHOOK_SECRET"]
    seen: set[str] = set()  # use a database with a unique key in production

    @app.post("/geopin")
    def geopin_webhook() -> tuple[str, int] | Response:
        try:
            event = verify_webhook(request.headers, request.get_data(), secret)
        except InvalidSignature as exc:
            return f"bad signature: {exc}", 400
        webhook_id = request.headers["webhook-id"]
        if webhook_id in seen:
            return "", 204  # already handled: acknowledge, do nothing
        seen.add(webhook_id)
        job = event["data"]
        if event["type"] == "job.succeeded":
            where = job["result"]["location"]
            app.logger.warning("job %s located at %s", job["job_id"], where)
        else:
            app.logger.warning("job %s failed: %s", job["job_id"], job["error"]["code"])
        return "", 204

    return app
