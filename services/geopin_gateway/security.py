"""The gateway's door: API keys on /v1, and per-key rate limits (flask-limiter on Redis).

Views carry their own limit, ``@limiter.limit(submit_rate)`` or ``@limiter.limit(read_rate)``;
the app factory binds :data:`limiter` to the app and its settings (:func:`init_security`).
"""

from __future__ import annotations

import logging
import time

from flask import Flask, Response, g, request
from flask_limiter import Limiter, RateLimitExceeded
from geopin.auth import ApiKey
from geopin.rate_limits import client_address, rate_limits_on
from geopin.settings import Settings
from geopin.wiring import rate_limit_storage

from geopin_gateway.context import gateway
from geopin_gateway.problems import Problem

log = logging.getLogger(__name__)

PROTECTED_PREFIX = "/v1/"


def current_key() -> ApiKey | None:
    """The key this request authenticated with; None when keys are off."""
    key: ApiKey | None = g.get("api_key")
    return key


def _unauthorized(code: str, detail: str) -> Problem:
    return Problem.of(code, detail, headers={"WWW-Authenticate": 'Bearer realm="geopin"'})


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
        raise Problem.of("api-key-revoked", f"this API key was revoked at {key.revoked_at}")
    g.api_key = key


def _rate_limit_key() -> str:
    """Limits count per key; without keys, per client address (behind a trusted proxy, the
    one it names in X-Forwarded-For)."""
    key = current_key()
    if key is not None:
        return f"key:{key.key_id}"
    trusted = gateway().settings.limits.trusted_proxies
    forwarded = request.headers.getlist("X-Forwarded-For")
    return f"addr:{client_address(request.remote_addr, forwarded, trusted)}"


def submit_rate() -> str:
    """Submissions and redeliveries (GEOPIN_LIMITS__SUBMIT), each route counted on its own."""
    return gateway().settings.limits.submit


def read_rate() -> str:
    """Job reads and thumbnails (GEOPIN_LIMITS__READ)."""
    return gateway().settings.limits.read


# Module-level, as flask-limiter has it, so views can name it; its storage and switch are
# those of the app init_app last saw. A gateway process serves one app; a test that builds
# several uses each one before it builds the next.
limiter = Limiter(
    _rate_limit_key,
    # Its own headers would put a Retry-After on every answer, 202 and 503 included.
    headers_enabled=False,
    # The request goes on if Redis is down: the job store then answers 503 on its own.
    swallow_errors=True,
)


def init_security(app: Flask, settings: Settings) -> None:
    """Authentication, then rate limits: registered in this order, they run in this order."""
    app.before_request(authenticate)
    app.config.update(
        RATELIMIT_ENABLED=rate_limits_on(settings),
        RATELIMIT_STORAGE_URI=rate_limit_storage(settings),
        RATELIMIT_KEY_PREFIX=f"{settings.redis.key_prefix}:limits",
    )
    limiter.init_app(app)
    log.info("rate limits are %s", "on" if app.config["RATELIMIT_ENABLED"] else "off")

    @app.errorhandler(RateLimitExceeded)
    def rate_limited(exc: RateLimitExceeded) -> Response:
        breached = limiter.current_limit
        wait_s = max(1, int(breached.reset_at - time.time())) if breached else 1
        return Problem.of(
            "rate-limited",
            f"at most {exc.description} of these requests; retry in {wait_s} s",
            headers={"Retry-After": str(wait_s)},
        ).response()
