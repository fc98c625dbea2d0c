"""``geopin keys``: create, list, rotate and revoke API keys, straight in Redis.

Operators run these next to the deployment (for instance ``kubectl exec`` into a gateway);
there is no HTTP route to create keys, so a leaked key cannot mint more.
"""

from __future__ import annotations

from datetime import UTC, datetime

import click

from geopin.auth import KeyStore
from geopin.cli.common import load_settings
from geopin.webhooks.signing import new_secret
from geopin.wiring import key_store


def _store() -> tuple[KeyStore, int]:

    settings = load_settings()
    return key_store(settings), settings.webhooks.rotation_grace_s


@click.group()
def keys() -> None:
    """Manage API keys (GEOPIN_AUTH__ENABLED=true makes the gateway require them)."""


@keys.command("create")
@click.argument("name")
def create(name: str) -> None:
    """Create a key for NAME; prints the key and its webhook secret, shown only this once."""
    token, key = _store()[0].create(name)
    click.echo(f"key id:         {key.key_id}")
    click.echo(f"API key:        {token}")
    click.echo(f"webhook secret: {key.webhook_secret}")
    click.echo("store both now: GeoPin keeps only a hash of the API key")


@keys.command("list")
def list_keys() -> None:
    """List keys: ID, name, created, revoked."""
    for key in _store()[0].all():
        revoked = f"  revoked {key.revoked_at}" if key.revoked_at else ""
        click.echo(f"{key.key_id}  {key.name}  created {key.created_at}{revoked}")


@keys.command("rotate-secret")
@click.argument("key_id")
def rotate_secret(key_id: str) -> None:
    """Give KEY_ID a new webhook secret; the old one keeps signing for the grace period."""
    store, grace_s = _store()
    key = store.rotate_webhook_secret(key_id, grace_s)
    if key is None:
        raise click.ClickException(f"no key {key_id!r}")
    until = datetime.fromtimestamp(key.previous_valid_until or 0, UTC).isoformat()
    click.echo(f"webhook secret: {key.webhook_secret}")
    click.echo(f"deliveries carry both signatures until {until}")


@keys.command("revoke")
@click.argument("key_id")
def revoke(key_id: str) -> None:
    """Revoke KEY_ID: its requests get 403 and its jobs' webhooks stop."""
    if _store()[0].revoke(key_id) is None:
        raise click.ClickException(f"no key {key_id!r}")
    click.echo(f"revoked {key_id}")


@keys.command("secret")
def secret() -> None:
    """Print a new signing secret for GEOPIN_WEBHOOKS__SECRET (deployments without keys)."""
    click.echo(new_secret())
