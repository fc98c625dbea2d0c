"""The ``geopin`` command line: build a model, load references, locate a photo."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import click

from geopin.cli.eval import evaluate
from geopin.cli.index import index
from geopin.cli.keys import keys
from geopin.cli.up import up
from geopin.settings import Settings
from geopin.top_k import TOP_K_MAX, TOP_K_MIN

if TYPE_CHECKING:
    from geopin_tools.model.architecture import Backbone

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
    from geopin.settings import settings_reference

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
    from geopin_tools.model.seeded import write_seeded_model

    path = output or _settings().model.path
    if path is None:
        raise click.ClickException("pass -o PATH, or set GEOPIN_MODEL__PATH")
    if path.exists() and not force:
        raise click.ClickException(f"{path} exists; pass --force to overwrite it")
    chosen = _backbone_named(backbone)
    model_id = write_seeded_model(path, chosen, dim, seed)
    click.echo(f"wrote {path} (model {model_id[:12]}, {chosen}, D={dim}): untrained, for tests")


@model.command("default")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write it here. Default: build it into GEOPIN_MODEL__DEFAULT_MODEL_DIR, once.",
)
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def model_default(output: Path | None, force: bool) -> None:
    """Build the default model: ImageNet off-the-shelf, NOT CosPlace-trained (docs/models.md)."""
    import onnx
    from geopin_tools.model.default_model import (
        DefaultModelUnavailable,
        ensure_default_model,
        write_default_model,
    )

    from geopin.model.kinds import ModelKind

    settings = _settings().model
    if output is not None and output.exists() and not force:
        raise click.ClickException(f"{output} exists; pass --force to overwrite it")
    try:
        if output is not None:
            write_default_model(output)
        path = output or ensure_default_model(settings.default_model_dir)
    except DefaultModelUnavailable as exc:
        raise click.ClickException(str(exc)) from exc
    metadata = {p.key: p.value for p in onnx.load(path).metadata_props}
    click.echo(
        f"{path}: model {metadata['geopin.model_id'][:12]}, {metadata['geopin.backbone']}, "
        f"D={metadata['geopin.dim']}: {ModelKind.IMAGENET_OFFTHESHELF.label}"
    )
    if settings.path is not None:
        click.echo(f"note: GEOPIN_MODEL__PATH is set, so workers load {settings.path} instead")


def _backbone_named(name: str) -> Backbone:
    """The backbone called ``name`` in any case, or a one-line error naming the known ones."""
    from geopin_tools.model.architecture import Backbone

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
    from geopin_tools.model.architecture import UnknownLayout
    from geopin_tools.model.checkpoint import CheckpointError
    from geopin_tools.model.export import CheckpointMismatch, export_checkpoint

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
    from geopin_tools.model.checkpoint import CheckpointError
    from geopin_tools.model.parity import PARITY_COSINE, IdentityMismatch, verify_export

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


@model.command("quantize")
@click.argument("onnx_model", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--calibration",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Folder of photos like those to be embedded (JPEG, PNG, WebP, HEIC). Default: generated.",
)
@click.option("--count", default=32, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def model_quantize(
    onnx_model: Path, output: Path, calibration: Path | None, count: int, force: bool
) -> None:
    """Write an int8 copy of ONNX_MODEL for CPU workers, calibrated on up to COUNT photos."""
    from geopin_tools.model.calibration import calibration_inputs
    from geopin_tools.model.quantize import quantize_int8

    if output.exists() and not force:
        raise click.ClickException(f"{output} exists; pass --force to overwrite it")
    try:
        inputs = calibration_inputs(calibration, _settings().images, count)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    source = (
        str(calibration) if calibration else "generated photos (pass --calibration for real ones)"
    )
    click.echo(f"calibrating on {len(inputs)} photo(s) from {source}")
    result = quantize_int8(onnx_model, output, inputs)
    click.echo(
        f"wrote {output}: int8 model {result.model_id[:12]} of {result.parent_model_id[:12]}; "
        "it is a new model to the index: re-index the references before serving it"
    )


@main.command()
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
    from geopin.client import ApiError, GeoPinClient

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


main.add_command(index)
main.add_command(up)
main.add_command(evaluate)

main.add_command(keys)

if __name__ == "__main__":
    main()
