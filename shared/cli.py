"""The ``geopin`` command line: build a model, load references, locate a photo."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import click
from tqdm import tqdm

from shared.settings import Settings

if TYPE_CHECKING:
    from shared.model.architecture import Backbone

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
    from shared.model.seeded import write_seeded_model

    path = output or _settings().model.path
    if path.exists() and not force:
        raise click.ClickException(f"{path} exists; pass --force to overwrite it")
    chosen = _backbone_named(backbone)
    model_id = write_seeded_model(path, chosen, dim, seed)
    click.echo(f"wrote {path} (model {model_id[:12]}, {chosen}, D={dim}): untrained, for tests")


def _backbone_named(name: str) -> Backbone:
    """The backbone called ``name`` in any case, or a one-line error naming the known ones."""
    from shared.model.architecture import Backbone

    for backbone in Backbone:
        if backbone.value.lower() == name.lower():
            return backbone
    names = ", ".join(b.value for b in Backbone)
    raise click.ClickException(f"unknown backbone {name!r}; choose one of {names}")


@model.command("export")
@click.argument("checkpoint", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--backbone", help="Expected backbone, e.g. ResNet50 or VGG16. Default: inferred.")
@click.option("--dim", type=click.IntRange(1, 4096), help="Expected D. Default: inferred.")
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def model_export(
    checkpoint: Path, output: Path, backbone: str | None, dim: int | None, force: bool
) -> None:
    """Convert a CosPlace CHECKPOINT (.pth) to ONNX, without torch and without running pickles."""
    from shared.model.architecture import UnknownLayout
    from shared.model.checkpoint import CheckpointError
    from shared.model.export import CheckpointMismatch, export_checkpoint

    if output.exists() and not force:
        raise click.ClickException(f"{output} exists; pass --force to overwrite it")
    expected = _backbone_named(backbone) if backbone else None
    try:
        result = export_checkpoint(checkpoint, output, expected, dim)
    except UnknownLayout as exc:
        raise click.ClickException(f"{checkpoint.name}: {exc}") from exc
    except (CheckpointError, CheckpointMismatch, OSError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(
        f"wrote {output}: CosPlace {result.backbone} D={result.dim}, model "
        f"{result.model_id[:12]}, checkpoint sha256 {result.checkpoint_sha256[:12]}"
    )
    click.echo(f"check it with: geopin model verify {output} {checkpoint}")


def _sizes(
    _context: click.Context, _parameter: click.Parameter, value: str
) -> tuple[tuple[int, int], ...]:
    """``64x64,96x128`` as ((64, 64), (96, 128)): heights and widths of the test inputs."""
    sizes = []
    for part in value.split(","):
        height, separator, width = part.strip().lower().partition("x")
        if not (separator and height.isdigit() and width.isdigit()):
            raise click.BadParameter(f"{part.strip()!r} is not HEIGHTxWIDTH")
        if min(int(height), int(width)) < 32:
            raise click.BadParameter(f"{part.strip()} is under 32 pixels, the backbone's stride")
        sizes.append((int(height), int(width)))
    if len(set(sizes)) < 3:
        raise click.BadParameter("give at least three different sizes")
    return tuple(sizes)


@model.command("verify")
@click.argument("onnx_model", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("checkpoint", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--sizes",
    default="64x64,96x128,128x96",
    show_default=True,
    callback=_sizes,
    help="Input sizes, HEIGHTxWIDTH, comma-separated; at least three.",
)
@click.option("--batch", default=2, show_default=True, type=click.IntRange(1, 64))
@click.option("--seed", default=0, show_default=True, type=int)
def model_verify(
    onnx_model: Path,
    checkpoint: Path,
    sizes: tuple[tuple[int, int], ...],
    batch: int,
    seed: int,
) -> None:
    """Check ONNX_MODEL against a reference forward of CHECKPOINT on random inputs."""
    from shared.model.checkpoint import CheckpointError
    from shared.model.parity import PARITY_COSINE, IdentityMismatch, verify_export

    try:
        report = verify_export(onnx_model, checkpoint, sizes, batch, seed)
    except (CheckpointError, IdentityMismatch) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"model {report.model_id[:12]} holds the weights of {checkpoint.name}")
    if not report.same_checkpoint_file:
        click.echo("note: it was exported from another file with the same weights")
    click.echo(f"reference: {report.reference}")
    for size in report.sizes:
        click.echo(
            f"  {size.height}x{size.width}, batch {batch}: worst cosine {size.worst:.10f} "
            f"(1 - cosine = {1 - size.worst:.1e})"
        )
    verdict = f"worst cosine {report.worst:.10f}, parity needs >= {PARITY_COSINE} for every image"
    if not report.passed:
        raise click.ClickException(f"parity FAILED: {verdict}")
    click.echo(f"parity OK: {verdict}")


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
