"""Which secrets sign a webhook: the key's (the old one too while rotating) or the deployment's."""

from __future__ import annotations

from dataclasses import replace

from geopin.auth import ApiKey, SigningSecrets, token_hash
from geopin.settings import WebhookSettings

OLD, DEPLOYMENT, DEPLOYMENT_BEFORE = "whsec_old", "whsec_a", "whsec_b"
KEY = ApiKey("k1", "acme", "2026-01-01T00:00:00.000Z", token_hash("gpk_x"), "whsec_new")


class Keys:
    def __init__(self, *keys: ApiKey) -> None:
        self.keys = {k.key_id: k for k in keys}

    def get(self, key_id: str) -> ApiKey | None:
        return self.keys.get(key_id)


def test_old_secret_signs_only_until_its_grace_ends() -> None:
    rotating = replace(KEY, previous_webhook_secret=OLD, previous_valid_until=100.0)
    assert rotating.signing_secrets(now=99.0) == ["whsec_new", "whsec_old"]
    assert rotating.signing_secrets(now=100.0) == ["whsec_new"]


def test_revoked_key_signs_nothing() -> None:
    assert replace(KEY, revoked_at="2026-01-02T00:00:00.000Z").signing_secrets(now=0) == []


def test_jobs_without_an_owner_use_the_deployment_secrets() -> None:
    settings = WebhookSettings(secret=DEPLOYMENT, previous_secret=DEPLOYMENT_BEFORE)
    secrets = SigningSecrets(Keys(KEY), settings)  # type: ignore[arg-type]
    assert secrets(None) == ["whsec_a", "whsec_b"]
    assert secrets("k1") == ["whsec_new"]
    assert secrets("deleted-key") == []
    assert SigningSecrets(Keys(), WebhookSettings())(None) == []  # type: ignore[arg-type]


def test_token_hash_is_sha256_hex() -> None:
    assert len(token_hash("gpk_x")) == 64
    assert token_hash("gpk_x") != token_hash("gpk_y")
