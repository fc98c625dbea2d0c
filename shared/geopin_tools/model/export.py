"""Official CosPlace checkpoint in, ONNX model that says what it is out.

The model file is what workers load and what an index records, so it carries its own identity:
the backbone, D and weights identity the builder stores, plus where the weights came from (the
checkpoint's sha256), how images must be prepared, and which GeoPin wrote it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from geopin.model.kinds import ModelKind

from geopin_tools.model.architecture import Backbone, infer_architecture
from geopin_tools.model.checkpoint import LoadedCheckpoint, load_checkpoint
from geopin_tools.model.onnx_builder import OPSET, build_cosplace_onnx, write_model

# CosPlace's test-time preprocessing (ImageNet statistics); geopin.images applies the same.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class CheckpointMismatch(ValueError):
    """The checkpoint is a valid CosPlace network, but not the backbone or D that was asked for."""


@dataclass(frozen=True)
class ExportResult:
    """What was written, for the caller to report."""

    path: Path
    backbone: Backbone
    dim: int
    model_id: str
    checkpoint_sha256: str


def preprocessing_json() -> str:
    """How to turn a photo into the model's input, for anyone serving the file without GeoPin."""
    return json.dumps(
        {
            "colour": "RGB",
            "layout": "NCHW float32",
            "scale": "pixel / 255, to [0, 1]",
            "mean": list(IMAGENET_MEAN),
            "std": list(IMAGENET_STD),
        },
        separators=(",", ":"),
    )


def exporter_version() -> str:
    """GeoPin's version and the ONNX opset; "unknown" when running from a checkout not installed."""
    try:
        geopin = version("geopin")
    except PackageNotFoundError:
        geopin = "unknown"
    return f"geopin {geopin}, onnx opset {OPSET}"


def export_metadata(checkpoint: LoadedCheckpoint, backbone: Backbone, dim: int) -> dict[str, str]:
    """The metadata an exported model carries besides what the builder sets itself."""
    return {
        "geopin.checkpoint_sha256": checkpoint.sha256,
        "geopin.preprocessing": preprocessing_json(),
        "geopin.exporter": exporter_version(),
        "geopin.trained": "true",
        "geopin.kind": ModelKind.COSPLACE.value,
        "geopin.description": f"CosPlace {backbone} D={dim} from {checkpoint.path.name}",
    }


def export_checkpoint(
    checkpoint_path: str | os.PathLike[str],
    output: str | os.PathLike[str],
    backbone: Backbone | None = None,
    dim: int | None = None,
) -> ExportResult:
    """Convert a checkpoint to ONNX; ``backbone`` and ``dim``, when given, must match its weights.

    Both are read from the weights anyway; giving them turns a wrong file into an error here
    rather than a model that silently embeds with another network.
    """
    checkpoint = load_checkpoint(checkpoint_path)
    found_backbone, found_dim = infer_architecture(checkpoint.state_dict)
    asked = []
    if backbone is not None and backbone is not found_backbone:
        asked.append(str(backbone))
    if dim is not None and dim != found_dim:
        asked.append(f"D={dim}")
    if asked:
        raise CheckpointMismatch(
            f"{checkpoint.path.name} is CosPlace {found_backbone} D={found_dim}, "
            f"not {' '.join(asked)}"
        )
    metadata = export_metadata(checkpoint, found_backbone, found_dim)
    model = build_cosplace_onnx(checkpoint.state_dict, found_backbone, found_dim, metadata)
    write_model(model, output)
    model_id = next(p.value for p in model.metadata_props if p.key == "geopin.model_id")
    return ExportResult(Path(output), found_backbone, found_dim, model_id, checkpoint.sha256)
