"""``geopin model``: build, export, check and quantise embedding models.

These commands run the model toolchain (:mod:`geopin_tools`), which needs the ``[tools]`` extra
(onnx and the default model's weights): it is imported inside each command, so the rest of the
command line works where only the runtime is installed, such as a gateway image.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from geopin.cli.common import load_settings
from geopin.model.kinds import ModelKind

if TYPE_CHECKING:
    from geopin_tools.model.architecture import Backbone


@click.group()
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
    from geopin_tools.model.seeded import write_seeded_model  # toolchain: the [tools] extra

    path = output or load_settings().model.path
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
    import onnx  # toolchain: the [tools] extra
    from geopin_tools.model.default_model import (  # toolchain: the [tools] extra
        DefaultModelUnavailable,
        ensure_default_model,
        write_default_model,
    )

    settings = load_settings().model
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
    from geopin_tools.model.architecture import Backbone  # toolchain: the [tools] extra

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
    from geopin_tools.model.architecture import UnknownLayout  # toolchain: the [tools] extra
    from geopin_tools.model.checkpoint import CheckpointError
    from geopin_tools.model.export import (  # toolchain: the [tools] extra
        CheckpointMismatch,
        export_checkpoint,
    )

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
    from geopin_tools.model.checkpoint import CheckpointError  # toolchain: the [tools] extra
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
@click.option(
    "--check",
    "check_count",
    default=32,
    show_default=True,
    type=click.IntRange(1, 10_000),
    help="Photos after the calibration ones (same source) to check int8 against FP32 on.",
)
@click.option("--min-speedup", default=1.5, show_default=True, type=click.FloatRange(0))
@click.option("--min-overlap", default=0.95, show_default=True, type=click.FloatRange(0, 1))
@click.option("--min-cosine", default=0.97, show_default=True, type=click.FloatRange(-1, 1))
@click.option(
    "--float-convs",
    type=click.IntRange(0),
    help="Leading convolutions to keep in FP32. Default: 6 for EfficientNet-Lite0, else 0.",
)
@click.option("--accept-worse", is_flag=True, help="Write the model even if it misses the targets.")
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def model_quantize(
    onnx_model: Path,
    output: Path,
    calibration: Path | None,
    count: int,
    check_count: int,
    min_speedup: float,
    min_overlap: float,
    min_cosine: float,
    float_convs: int | None,
    accept_worse: bool,
    force: bool,
) -> None:
    """Write an int8 copy of ONNX_MODEL for CPU workers, calibrated on up to COUNT photos.

    It is written only if, on photos the calibration did not see, it is at least MIN_SPEEDUP
    times as fast as FP32 here, a search with it keeps MIN_OVERLAP of FP32's top 10, and no
    photo's embedding has a cosine below MIN_COSINE with its FP32 embedding.
    """
    from geopin_tools.model.calibration import calibration_inputs  # toolchain: the [tools] extra
    from geopin_tools.model.int8_check import MIN_CHECK_PHOTOS, Targets, quantize_checked

    if output.exists() and not force:
        raise click.ClickException(f"{output} exists; pass --force to overwrite it")
    settings = load_settings()
    try:
        inputs = calibration_inputs(calibration, settings.images, count + check_count)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    source = str(calibration) if calibration else "generated photos (pass --calibration)"
    if len(inputs) - count < MIN_CHECK_PHOTOS:
        raise click.ClickException(
            f"the int8 check needs {MIN_CHECK_PHOTOS} photos besides the {count} to calibrate "
            f"on; {source} gave {len(inputs) - count} (--check {check_count}): add photos, "
            "lower --count or raise --check"
        )
    click.echo(f"calibrating on {count} photo(s) from {source}")
    click.echo(f"checking against FP32 on the next {len(inputs) - count} photo(s)")
    targets = Targets(min_speedup, min_overlap, min_cosine)
    verdict = quantize_checked(
        onnx_model,
        output,
        inputs[:count],
        inputs[count:],
        settings.model,
        targets,
        accept_worse,
        float_convs,
    )
    for line in verdict.check.lines():
        click.echo(line)
    missed = "; ".join(verdict.shortfalls)
    if not verdict.written:
        raise click.ClickException(
            f"int8 does not pay for this model ({missed}); nothing written "
            "(--accept-worse writes it anyway)"
        )
    if missed:
        click.echo(f"written although it misses the targets: {missed}")
    result = verdict.model
    click.echo(
        f"wrote {output}: int8 model {result.model_id[:12]} of {result.parent_model_id[:12]}; "
        "it is a new model to the index: re-index the references before serving it"
    )
