"""What every ``geopin`` command shares: settings read once, bad ones as a one-line error."""

from __future__ import annotations

import click

from geopin.settings import Settings


def load_settings() -> Settings:
    try:
        return Settings()
    except ValueError as exc:
        raise click.ClickException(f"invalid GEOPIN_ setting: {exc}") from exc


def ensure_model(settings: Settings) -> None:
    """Build the default model when none is configured: workers only ever load one."""
    if settings.model.path is None:
        from geopin_tools.model.default_model import ensure_default_model  # the [tools] extra

        ensure_default_model(settings.model.default_model_dir)
