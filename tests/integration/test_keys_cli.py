"""``geopin keys``: what an operator does with keys, against the real Redis."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner
from geopin.cli import main
from geopin.settings import Settings
from geopin.wiring import key_store


@pytest.fixture
def run(redis_db: str, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("GEOPIN_REDIS__URL", redis_db)
    return CliRunner()


def _field(output: str, name: str) -> str:
    match = re.search(rf"^{name}:\s+(\S+)$", output, re.MULTILINE)
    assert match, output
    return match.group(1)


def test_created_key_authenticates_rotates_and_revokes(run: CliRunner, redis_db: str) -> None:
    created = run.invoke(main, ["keys", "create", "acme"])
    assert created.exit_code == 0, created.output
    token, key_id = _field(created.output, "API key"), _field(created.output, "key id")
    old_secret = _field(created.output, "webhook secret")
    store = key_store(Settings(redis={"url": redis_db}))
    key = store.authenticate(token)
    assert key is not None
    assert key.key_id == key_id

    rotated = run.invoke(main, ["keys", "rotate-secret", key_id])
    assert rotated.exit_code == 0, rotated.output
    new_secret = _field(rotated.output, "webhook secret")
    assert new_secret != old_secret
    key = store.get(key_id)
    assert key is not None
    assert key.signing_secrets(now=0) == [new_secret, old_secret]

    assert f"{key_id}  acme" in run.invoke(main, ["keys", "list"]).output
    assert run.invoke(main, ["keys", "revoke", key_id]).exit_code == 0
    revoked = store.authenticate(token)
    assert revoked is not None
    assert revoked.revoked_at is not None
    assert revoked.signing_secrets(now=0) == []


def test_unknown_key_id_is_a_one_line_error(run: CliRunner) -> None:
    result = run.invoke(main, ["keys", "revoke", "nope"])
    assert result.exit_code == 1
    assert "no key 'nope'" in result.output


def test_deployment_secret_is_accepted_by_the_settings(run: CliRunner) -> None:
    secret = run.invoke(main, ["keys", "secret"]).output.strip()
    assert Settings(webhooks={"secret": secret}).webhooks.secret is not None
