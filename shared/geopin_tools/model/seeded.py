"""A seeded, untrained CosPlace model file, so GeoPin runs before real weights are converted.

Tests and a first deployment need a model of the right shape without torch or a download. The
file says plainly in its metadata that it is untrained, so nobody mistakes its answers for
recognition.
"""

from __future__ import annotations

import os

from geopin.model.kinds import ModelKind

from geopin_tools.model.architecture import Backbone, seeded_state_dict
from geopin_tools.model.onnx_builder import build_cosplace_onnx, model_identity, write_model


def write_seeded_model(
    path: str | os.PathLike[str],
    backbone: Backbone = Backbone.RESNET18,
    dim: int = 512,
    seed: int = 0,
) -> str:
    """Write the seeded model to ``path`` (atomically) and return its model id."""
    state_dict = seeded_state_dict(backbone, dim, seed)
    description = (
        f"seeded untrained CosPlace-architecture network ({backbone}, D={dim}, seed {seed}): "
        "for tests and a first run only; it does not recognise places"
    )
    metadata = {
        "geopin.trained": "false",
        "geopin.kind": ModelKind.UNTRAINED.value,
        "geopin.description": description,
    }
    write_model(build_cosplace_onnx(state_dict, backbone, dim, metadata), path)
    return model_identity(state_dict)
