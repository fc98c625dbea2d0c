"""``geopin locate``: ask a running gateway where a photo was taken."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from geopin.client import ApiError, GeoPinClient
from geopin.top_k import TOP_K_MAX, TOP_K_MIN

DEFAULT_GATEWAY = "http://127.0.0.1:8000"


@click.command()
@click.argument("photo", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--url",
    default=lambda: os.environ.get("GEOPIN_URL", DEFAULT_GATEWAY),
    show_default="GEOPIN_URL or " + DEFAULT_GATEWAY,
    help="The gateway.",
)
@click.option("--top-k", type=click.IntRange(TOP_K_MIN, TOP_K_MAX), default=None)
@click.option("--timeout", default=120.0, show_default=True, help="Seconds to wait.")
@click.option("--api-key", envvar="GEOPIN_API_KEY", help="Bearer key [env GEOPIN_API_KEY].")
@click.option("--callback-url", help="Also POST a signed webhook here when the job ends.")
@click.option("--bbox", help="Search only here: SOUTH,WEST,NORTH,EAST in degrees.")
@click.option("--center", help="Search only around LAT,LON (with --radius-m).")
@click.option("--radius-m", help="Radius of --center, metres.")
def locate(
    photo: Path,
    url: str,
    top_k: int | None,
    timeout: float,
    api_key: str | None,
    callback_url: str | None,
    bbox: str | None,
    center: str | None,
    radius_m: str | None,
) -> None:
    """Ask a running GeoPin where PHOTO was taken; prints the job as JSON."""
    # The gateway validates the area and answers a one-line problem when it is wrong.
    area = {"bbox": bbox, "center": center, "radius_m": radius_m}
    fields = {name: value for name, value in area.items() if value is not None}
    client = GeoPinClient(url, api_key)
    try:
        job = client.wait(client.submit(photo, top_k, callback_url, fields), timeout)
    except (ApiError, TimeoutError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(json.dumps(job, indent=2))
    if job["status"] == "failed":
        raise click.ClickException(f"{job['error']['code']}: {job['error']['message']}")
