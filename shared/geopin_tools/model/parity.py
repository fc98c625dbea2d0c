"""Prove an exported model computes CosPlace: ONNX Runtime against an independent forward pass.

An export can be wrong in ways no shape check sees (a stride on the wrong conv, a missing
ReLU), so ``geopin model verify`` embeds seeded random inputs of several sizes with the model
file and with a reference implementation of the same weights, and reports the worst cosine.
The reference is PyTorch where it is installed (what CosPlace itself runs) and otherwise the
numpy forward of :mod:`geopin_tools.model.reference`; neither shares code with the exporter.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from geopin_tools.model.agreement import cosines
from geopin_tools.model.checkpoint import load_checkpoint
from geopin_tools.model.onnx_builder import model_identity
from geopin_tools.model.reference import reference_embed

PARITY_COSINE = 0.99999  # every image must reach it
DEFAULT_SIZES: tuple[tuple[int, int], ...] = ((64, 64), (96, 128), (128, 96))  # (height, width)

Reference = Callable[[Mapping[str, npt.NDArray[Any]], npt.NDArray[np.float32]], npt.ArrayLike]


class IdentityMismatch(ValueError):
    """The model file was exported from other weights than the checkpoint it is checked with."""


@dataclass(frozen=True)
class SizeParity:
    """Cosines between model and reference for each image of one input size."""

    height: int
    width: int
    cosines: tuple[float, ...]

    @property
    def worst(self) -> float:
        return min(self.cosines)


@dataclass(frozen=True)
class ParityReport:
    """The outcome of one verification: which reference, which model, how close per size."""

    reference: str
    model_id: str
    same_checkpoint_file: bool  # False: same weights, but exported from another file's bytes
    sizes: tuple[SizeParity, ...]

    @property
    def worst(self) -> float:
        return min(size.worst for size in self.sizes)

    @property
    def passed(self) -> bool:
        return self.worst >= PARITY_COSINE


def choose_reference() -> tuple[str, Reference]:
    """PyTorch when importable, else numpy; with a name that says which one was used."""
    if importlib.util.find_spec("torch") is not None:
        # torch is optional and heavy (gigabytes): imported only where it is installed.
        from geopin_tools.model.torch_reference import torch_embed, torch_version

        return f"PyTorch {torch_version()} (float64)", torch_embed
    return "numpy (float64, geopin_tools.model.reference)", reference_embed


def verify_export(
    model_path: str | os.PathLike[str],
    checkpoint_path: str | os.PathLike[str],
    sizes: Sequence[tuple[int, int]] = DEFAULT_SIZES,
    batch: int = 2,
    seed: int = 0,
) -> ParityReport:
    """Compare the model file with the reference forward of the checkpoint's weights.

    The model's recorded identity is checked first: parity with other weights means nothing.
    """
    checkpoint = load_checkpoint(checkpoint_path)
    session = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    metadata = session.get_modelmeta().custom_metadata_map
    recorded = metadata.get("geopin.model_id", "none")
    expected = model_identity(checkpoint.state_dict)
    if recorded != expected:
        raise IdentityMismatch(
            f"{Path(model_path).name} records model id {recorded[:12]}, but the weights in "
            f"{checkpoint.path.name} are {expected[:12]}: it was not exported from them"
        )
    name, reference = choose_reference()
    input_name = session.get_inputs()[0].name
    rng = np.random.default_rng(seed)
    results = []
    for height, width in sizes:
        images = rng.standard_normal((batch, 3, height, width), dtype=np.float32)
        (embedded,) = session.run(None, {input_name: images})
        expected_embeddings = reference(checkpoint.state_dict, images)
        results.append(
            SizeParity(
                height,
                width,
                tuple(
                    float(c) for c in cosines(np.asarray(embedded), np.asarray(expected_embeddings))
                ),
            )
        )
    return ParityReport(
        reference=name,
        model_id=expected,
        same_checkpoint_file=metadata.get("geopin.checkpoint_sha256") == checkpoint.sha256,
        sizes=tuple(results),
    )
