"""The ``geopin`` command line: build a model, load references, locate a photo."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click
from tqdm import tqdm

from shared.settings import Settings

DEFAULT_GATEWAY = "http://127.0.0.1:8000"


def _settings() -> Settings:
    try:
        return Settings()
    except ValueError as exc:
        raise click.ClickException(f"invalid GEOPIN_ setting: {exc}") from exc


@click.group()
def main() -> None:
    """GeoPin: where was this photo taken?"""


@main.command("settings")
def show_settings() -> None:
    """Print every GEOPIN_ setting with its default and meaning (Markdown)."""
    from shared.settings import settings_reference

    click.echo(settings_reference(), nl=False)


@main.group()
def model() -> None:
    """Build and inspect the embedding model."""


@model.command("init")
@click.option(
    "-o", "--output", type=click.Path(path_type=Path), help="Default: GEOPIN_MODEL__PATH."
)
@click.option("--backbone", default="ResNet18", show_default=True)
@click.option("--dim", default=512, show_default=True, type=click.IntRange(1, 4096))
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def model_init(output: Path | None, backbone: str, dim: int, seed: int, force: bool) -> None:
    """Write a seeded, UNTRAINED CosPlace-architecture model (for tests and a first run)."""
    from shared.model.architecture import Backbone
    from shared.model.seeded import write_seeded_model

    path = output or _settings().model.path
    if path.exists() and not force:
        raise click.ClickException(f"{path} exists; pass --force to overwrite it")
    try:
        chosen = Backbone(backbone)
    except ValueError as exc:
        names = ", ".join(b.value for b in Backbone)
        raise click.ClickException(f"unknown backbone {backbone!r}; choose one of {names}") from exc
    model_id = write_seeded_model(path, chosen, dim, seed)
    click.echo(f"wrote {path} (model {model_id[:12]}, {backbone}, D={dim}): untrained, for tests")


@main.group()
def index() -> None:
    """Manage the reference index."""


@index.command("add")
@click.argument("manifest", type=click.Path(path_type=Path))
def index_add(manifest: Path) -> None:
    """Embed and index the photos listed in MANIFEST (CSV: path,lat,lon[,id])."""
    from shared.backends import vector_index
    from shared.model.embedder import Embedder
    from shared.model.session import ModelNotFound
    from shared.references import ManifestError, index_manifest, read_manifest

    settings = _settings()
    try:
        rows = read_manifest(manifest)
    except ManifestError as exc:
        for problem in exc.problems:
            click.echo(f"{manifest}: {problem}", err=True)
        raise click.ClickException(f"{len(exc.problems)} bad line(s); nothing was indexed") from exc
    embedder = Embedder(settings.model, settings.images)
    try:
        info = embedder.info
    except ModelNotFound as exc:
        raise click.ClickException(str(exc)) from exc
    with tqdm(total=len(rows), unit="photo", desc="indexing") as bar:
        report = index_manifest(
            rows, embedder.embed, vector_index(settings), info.dim, info.model_id, bar.update
        )
    for rejected in report.rejected:
        click.echo(f"{manifest}: {rejected}", err=True)
    click.echo(f"indexed {report.indexed} photo(s) into {settings.elasticsearch.index}")
    if report.rejected:
        raise click.ClickException(f"{len(report.rejected)} photo(s) could not be read")


@main.command()
@click.argument("photo", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--url",
    default=lambda: os.environ.get("GEOPIN_URL", DEFAULT_GATEWAY),
    show_default="GEOPIN_URL or " + DEFAULT_GATEWAY,
    help="The gateway.",
)
@click.option("--top-k", type=click.IntRange(1, 100), default=None)
@click.option("--timeout", default=120.0, show_default=True, help="Seconds to wait.")
def locate(photo: Path, url: str, top_k: int | None, timeout: float) -> None:
    """Ask a running GeoPin where PHOTO was taken; prints the job as JSON."""
    from shared.client import ApiError, GeoPinClient

    client = GeoPinClient(url)
    try:
        job = client.wait(client.submit(photo, top_k), timeout)
    except (ApiError, TimeoutError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(json.dumps(job, indent=2))
    if job["status"] == "failed":
        raise click.ClickException(f"{job['error']['code']}: {job['error']['message']}")


if __name__ == "__main__":
    main()
