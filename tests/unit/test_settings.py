from __future__ import annotations

import pytest
from geopin.settings import ResizePolicy, Settings
from pydantic import ValidationError


def test_nested_settings_come_from_prefixed_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEOPIN_REDIS__URL", "redis://cache:6380/2")
    monkeypatch.setenv("GEOPIN_IMAGES__RESIZE", "native")
    monkeypatch.setenv(
        "GEOPIN_MODEL__PROVIDERS", '["CUDAExecutionProvider", "CPUExecutionProvider"]'
    )
    settings = Settings()
    assert settings.redis.url == "redis://cache:6380/2"
    assert settings.images.resize is ResizePolicy.NATIVE
    assert settings.model.providers[0] == "CUDAExecutionProvider"


def test_visibility_timeout_must_exceed_the_hard_time_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GEOPIN_CELERY__HARD_TIME_LIMIT_S", "900")
    with pytest.raises(ValidationError, match="visibility_timeout_s"):
        Settings()


def test_a_worker_is_presumed_dead_only_after_two_missed_heartbeats(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GEOPIN_CELERY__HEARTBEAT_S", "15")
    with pytest.raises(ValidationError, match="presumed_dead_after_s >= 2 \\* heartbeat_s"):
        Settings()
    monkeypatch.setenv("GEOPIN_CELERY__PRESUMED_DEAD_AFTER_S", "30")
    assert Settings().celery.presumed_dead_after_s == 30


def test_defaults_are_safe_for_a_public_gateway() -> None:
    settings = Settings()
    assert settings.images.max_upload_bytes == 20 * 1024 * 1024
    assert settings.images.max_pixels <= 50_000_000
    assert settings.celery.hard_time_limit_s < settings.celery.visibility_timeout_s


def test_webhook_secret_must_be_a_standard_webhooks_secret() -> None:
    with pytest.raises(ValidationError, match="whsec_"):
        Settings(webhooks={"secret": "hunter2"})


def test_rate_limits_must_be_readable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEOPIN_LIMITS__SUBMIT", "lots")
    with pytest.raises(ValidationError, match="submit"):
        Settings()


def test_keys_are_off_and_the_ssrf_guard_has_no_opening_by_default() -> None:
    settings = Settings()
    assert settings.auth.enabled is False  # a local run; production turns keys on
    assert settings.webhooks.insecure_allow_networks == []
    assert settings.webhooks.schedule_s[0] == 5
    assert settings.webhooks.schedule_s[-1] == 24 * 3600
