"""API keys: who submitted a job, how fast they may go, and what signs their webhooks.

A key is 256 random bits shown once, at creation; Redis keeps only its SHA-256. A fast,
unsalted hash is enough for a secret that long (no dictionary can guess it), and it lets the
gateway find a key in one lookup, where a slow password hash would cost every request.

Each key has its own webhook signing secret. Rotating it keeps the old one signing too, for
``GEOPIN_WEBHOOKS__ROTATION_GRACE_S``, so a receiver can switch without losing deliveries.
A revoked key is kept, marked, so its holder gets 403 rather than an unexplained 401.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from dataclasses import asdict, dataclass, replace
from typing import Protocol

import redis

from geopin.jobs import StoreUnavailable, utc_now
from geopin.outages import OutageTranslation
from geopin.settings import WebhookSettings
from geopin.webhooks.signing import new_secret

TOKEN_PREFIX = "gpk_"  # noqa: S105 -- a marker that makes leaked keys easy to scan for
_redis_outage = OutageTranslation(redis.RedisError, StoreUnavailable, "Redis")


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    name: str
    created_at: str
    token_sha256: str
    webhook_secret: str
    previous_webhook_secret: str | None = None
    previous_valid_until: float | None = None  # unix seconds
    revoked_at: str | None = None

    def signing_secrets(self, now: float) -> list[str]:
        """The secrets a delivery is signed with now: the current one, and the old one in grace."""
        if self.revoked_at is not None:
            return []
        if self.previous_webhook_secret and (self.previous_valid_until or 0) > now:
            return [self.webhook_secret, self.previous_webhook_secret]
        return [self.webhook_secret]


class KeyStore(Protocol):
    def create(self, name: str) -> tuple[str, ApiKey]: ...
    def authenticate(self, token: str) -> ApiKey | None: ...
    def get(self, key_id: str) -> ApiKey | None: ...
    def all(self) -> list[ApiKey]: ...
    def rotate_webhook_secret(self, key_id: str, grace_s: int) -> ApiKey | None: ...
    def revoke(self, key_id: str) -> ApiKey | None: ...


class RedisKeyStore:
    """Keys by ID in one hash, and the token hashes that lead to them in another; no TTL."""

    def __init__(self, client: redis.Redis, key_prefix: str) -> None:
        self._redis = client
        self._by_id = f"{key_prefix}:apikeys"
        self._by_hash = f"{key_prefix}:apikey-hashes"

    @_redis_outage
    def create(self, name: str) -> tuple[str, ApiKey]:
        """A new key; returns the token, which is not stored and cannot be shown again."""
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        key = ApiKey(
            key_id=secrets.token_hex(8),
            name=name,
            created_at=utc_now(),
            token_sha256=token_hash(token),
            webhook_secret=new_secret(),
        )
        with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(self._by_id, key.key_id, json.dumps(asdict(key)))
            pipe.hset(self._by_hash, key.token_sha256, key.key_id)
            pipe.execute()
        return token, key

    @_redis_outage
    def authenticate(self, token: str) -> ApiKey | None:
        key_id = self._redis.hget(self._by_hash, token_hash(token))
        return self.get(key_id.decode()) if key_id else None  # type: ignore[union-attr]

    @_redis_outage
    def get(self, key_id: str) -> ApiKey | None:
        raw = self._redis.hget(self._by_id, key_id)
        return ApiKey(**json.loads(raw)) if raw else None  # type: ignore[arg-type]

    @_redis_outage
    def all(self) -> list[ApiKey]:
        raw = self._redis.hvals(self._by_id)
        return sorted((ApiKey(**json.loads(r)) for r in raw), key=lambda k: k.created_at)  # type: ignore[union-attr]

    @_redis_outage
    def _save(self, key: ApiKey) -> ApiKey:
        self._redis.hset(self._by_id, key.key_id, json.dumps(asdict(key)))
        return key

    def rotate_webhook_secret(self, key_id: str, grace_s: int) -> ApiKey | None:
        key = self.get(key_id)
        if key is None:
            return None
        return self._save(
            replace(
                key,
                webhook_secret=new_secret(),
                previous_webhook_secret=key.webhook_secret,
                previous_valid_until=time.time() + grace_s,
            )
        )

    def revoke(self, key_id: str) -> ApiKey | None:
        key = self.get(key_id)
        return None if key is None else self._save(replace(key, revoked_at=utc_now()))


class SigningSecrets:
    """Which secrets sign a job's webhook: its key's, or the deployment's when keys are off."""

    def __init__(self, keys: KeyStore, settings: WebhookSettings) -> None:
        self._keys, self._settings = keys, settings

    def __call__(self, owner: str | None) -> list[str]:
        if owner is None:
            configured = (self._settings.secret, self._settings.previous_secret)
            return [s.get_secret_value() for s in configured if s is not None]
        key = self._keys.get(owner)
        return key.signing_secrets(time.time()) if key is not None else []
