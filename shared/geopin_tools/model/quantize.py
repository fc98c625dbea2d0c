"""An int8 copy of a CosPlace model for CPU workers: ONNX Runtime static QDQ quantisation.

Static quantisation with calibration photos is what makes a CNN faster on a CPU: every
convolution then runs on int8 (VNNI dot products where the CPU has them), and activations stay
int8 between layers. Dynamic quantisation, the other ONNX Runtime mode, quantises activations
at run time and turns convolutions into ConvInteger, which measured slower than FP32 here
(docs/benchmarks.md). Batch norms are folded into the convolutions first, so they cost nothing;
the head (L2 norms, GeM, Linear) stays FP32, as its precision decides the descriptor's.

The int8 model is a different function from its parent, so it gets its own ``geopin.model_id``
(the sha256 of its own weights, which include the calibrated scales): an index built with the
FP32 model refuses int8 queries and must be rebuilt, instead of silently mixing two sets of
vectors whose agreement was never measured on that index. The parent's id is kept as
``geopin.parent_model_id``.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnx
from onnx import helper, numpy_helper
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_static,
)
from onnxruntime.quantization.shape_inference import quant_pre_process

from geopin_tools.model.onnx_builder import INPUT_NAME, model_identity, write_model

# The backbone's ops (after batch-norm folding). Each ReLU, and each Clip (EfficientNet-Lite's
# ReLU6), folds into its conv's int8 output range; a Clip left out stayed in FP32 between a
# dequantise and a quantise after every conv, which made the default model no faster than
# FP32 and less accurate (docs/benchmarks.md, "int8 on real photos").
BACKBONE_OPS = ("Conv", "Relu", "Clip", "Add", "MaxPool")
# Leading convolutions kept in FP32, by backbone. Nearly all of the default model's int8 error
# enters in its first six (the stem and the first two blocks, at 1/2 and 1/4 resolution, where
# most activations are small against the uint8 step of ReLU6's range); in FP32 they keep
# top-10 overlap above 0.95 for a smaller loss of speed than any other split measured
# (docs/benchmarks.md, "int8 on real photos").
FLOAT_LEADING_CONVS = {"EfficientNet-Lite0": 6}


@dataclass(frozen=True)
class QuantizedModel:
    model_id: str
    parent_model_id: str
    calibration_images: int
    float_convs: int


class _Photos(CalibrationDataReader):  # type: ignore[misc]
    """Feeds the calibration inputs one at a time, in ranges ONNX Runtime asks for."""

    def __init__(self, inputs: Sequence[npt.NDArray[np.float32]]) -> None:
        self._inputs = inputs
        self._next: Iterator[npt.NDArray[np.float32]] = iter(inputs)

    def __len__(self) -> int:
        return len(self._inputs)

    def set_range(self, start_index: int, end_index: int) -> None:
        self._next = iter(self._inputs[start_index:end_index])

    def get_next(self) -> dict[str, npt.NDArray[np.float32]] | None:
        pixels = next(self._next, None)
        return None if pixels is None else {INPUT_NAME: pixels[np.newaxis]}


def quantize_int8(
    source: str | os.PathLike[str],
    target: str | os.PathLike[str],
    calibration: Sequence[npt.NDArray[np.float32]],
    float_convs: int | None = None,
) -> QuantizedModel:
    """Write the int8 model of ``source`` to ``target`` (atomically), calibrated on the inputs.

    The first ``float_convs`` convolutions stay FP32 (default: the backbone's entry in
    :data:`FLOAT_LEADING_CONVS`, else none).

    Activation ranges are the min and max seen over the calibration inputs (a few dozen
    photos suffice for MinMax). ONNX Runtime would keep every intermediate tensor of every
    photo until the end, gigabytes per photo for ResNet-152 at 512x683, so ranges are merged
    after each photo instead (``CalibStridedMinMax`` = 1).
    """
    if not calibration:
        raise ValueError("int8 calibration needs at least one photo")
    parent = onnx.load(source, load_external_data=False)
    metadata = {prop.key: prop.value for prop in parent.metadata_props}
    if float_convs is None:
        float_convs = FLOAT_LEADING_CONVS.get(metadata.get("geopin.backbone", ""), 0)
    with tempfile.TemporaryDirectory(prefix="geopin-int8-") as work:
        folded = Path(work, "folded.onnx")
        quantized = Path(work, "int8.onnx")
        # Shapes are inferred by ONNX itself (every CosPlace op has inference), so the
        # symbolic pass and its sympy dependency are not needed.
        quant_pre_process(source, folded, skip_symbolic_shape=True)
        convs = [node.name for node in onnx.load(folded).graph.node if node.op_type == "Conv"]
        quantize_static(
            folded,
            quantized,
            _Photos(calibration),
            quant_format=QuantFormat.QDQ,
            op_types_to_quantize=list(BACKBONE_OPS),
            nodes_to_exclude=convs[:float_convs],
            per_channel=True,  # each conv filter its own scale: the accuracy ResNets need
            # uint8 activations with int8 weights is what x86 int8 kernels (VNNI) run fastest.
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
            extra_options={"CalibStridedMinMax": 1},
        )
        model = onnx.load(quantized)
    weights = {tensor.name: numpy_helper.to_array(tensor) for tensor in model.graph.initializer}
    result = QuantizedModel(
        model_identity(weights),
        metadata.get("geopin.model_id", "unknown"),
        len(calibration),
        min(float_convs, len(convs)),
    )
    description = metadata.get("geopin.description", "CosPlace")
    del model.metadata_props[:]
    helper.set_model_props(
        model,
        {
            **metadata,
            "geopin.model_id": result.model_id,
            "geopin.parent_model_id": result.parent_model_id,
            "geopin.precision": "int8",
            "geopin.quantization": (
                "ONNX Runtime static QDQ: per-channel int8 weights, uint8 activations, "
                f"MinMax ranges from {len(calibration)} calibration photos; first "
                f"{result.float_convs} convolutions and the head in FP32"
            ),
            "geopin.description": f"{description} (int8)",
        },
    )
    write_model(model, target)
    return result
