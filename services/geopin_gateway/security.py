"""The gateway's door: API keys on /v1, and per-key rate limits (flask-limiter on Redis)."""

from __future__ import annotations

import time

from flask import Flask, Response, g, request
from flask_limiter import Limiter, RateLimitExceeded
from flask_limiter.util import get_remote_address
from geopin.auth import ApiKey
from geopin.settings import Settings
from geopin.wiring import rate_limit_storage

from geopin_gateway.context import gateway
from geopin_gateway.problems import Problem

PROTECTED_PREFIX = "/v1/"


def current_key() -> ApiKey | None:
    """The key this request authenticated with; None when keys are off."""
    key: ApiKey | None = g.get("api_key")
    return key


def _unauthorized(code: str, detail: str) -> Problem:
    return Problem(
        401, code, "Unauthorized", detail, headers={"WWW-Authenticate": 'Bearer realm="geopin"'}
    )


def authenticate() -> None:
    """Find the request's key before anything else runs, the rate limiter included."""
    ctx = gateway()
    if not ctx.settings.auth.enabled or not request.path.startswith(PROTECTED_PREFIX):
        return
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized("missing-api-key", "send `Authorization: Bearer <your API key>`")
    key = ctx.keys.authenticate(token.strip())
    if key is None:
        raise _unauthorized("invalid-api-key", "this API key is not known")
    if key.revoked_at is not None:
        detail = f"this API key was revoked at {key.revoked_at}"
        raise Problem(403, "api-key-revoked", "Forbidden", detail)
    g.api_key = key


def _rate_limit_key() -> str:
    """Limits count per key; without keys, per client address."""
    key = current_key()
    return f"key:{key.key_id}" if key is not None else f"addr:{get_remote_address()}"


def init_security(app: Flask, settings: Settings) -> Limiter:
    """Authentication, then rate limits: registered in this order, they run in this order."""
    app.before_request(authenticate)
    limiter = Limiter(
        _rate_limit_key,
        app=app,
        storage_uri=rate_limit_storage(settings),
        key_prefix=f"{settings.redis.key_prefix}:limits",
        # Its own headers would put a Retry-After on every answer, 202 and 503 included.
        headers_enabled=False,
        enabled=settings.limits.enabled,
        # The request goes on if Redis is down: the job store then answers 503 on its own.
        swallow_errors=True,
    )

    @app.errorhandler(RateLimitExceeded)
    def rate_limited(exc: RateLimitExceeded) -> Response:
        breached = limiter.current_limit
        wait_s = max(1, int(breached.reset_at - time.time())) if breached else 1
        return Problem(
            429,
            "rate-limited",
            "Too many requests",
            f"at most {exc.description} of these requests; retry in {wait_s} s",
            headers={"Retry-After": str(wait_s)},
        ).response()

    return limiter


def limit_views(app: Flask, limiter: Limiter, rates: dict[str, str]) -> None:
    """Wrap each endpoint's view in its limit, e.g. ``{"jobs.get_job": "600/minute"}``.

    Done here, once the app exists, because the views are defined at import time and the
    limiter (with its Redis storage from the settings) only in the app factory.
    """
    for endpoint, rate in rates.items():
        view = app.view_functions[endpoint]
        # flask-limiter's overloads cover views and blueprints; mypy cannot pick the view's.
        app.view_functions[endpoint] = limiter.limit(rate)(view)  # type: ignore[assignment]
