"""A less degenerate stand-in for a trained CosPlace model, to judge int8 agreement with.

The seeded network is untrained: its descriptors of any two photos have cosine about 0.9999,
so the order of a photo's neighbours hangs on differences smaller than int8's rounding, and
top-10 overlap measures noise. Here the same seeded backbone gets a Linear bias that centres
the descriptors over a set of photos (bias = -W @ mean pooled feature), as training spreads a
real model's descriptors over the sphere. The backbone, where every int8 rounding happens, is
unchanged; only the directions the descriptors point in are spread out. It remains untrained.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
from geopin.model.batching import Pixels
from geopin_tools.model.architecture import LINEAR_BIAS_KEY, LINEAR_WEIGHT_KEY, Backbone, StateDict
from geopin_tools.model.onnx_builder import INPUT_NAME, build_cosplace_onnx, write_model
from onnx import TensorProto, helper


def write_centred_model(
    weights: StateDict, backbone: Backbone, dim: int, photos: list[Pixels], path: Path
) -> None:
    """Write the network of ``weights`` with its Linear bias centring these photos' descriptors."""
    model = build_cosplace_onnx(weights, backbone, dim, {})
    linear = next(node for node in model.graph.node if node.op_type == "Gemm")
    pooled_name = linear.input[0]
    channels = int(weights[LINEAR_WEIGHT_KEY].shape[1])
    model.graph.output.append(
        helper.make_tensor_value_info(pooled_name, TensorProto.FLOAT, ["batch", channels])
    )
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    pooled = np.concatenate(
        [session.run([pooled_name], {INPUT_NAME: pixels[np.newaxis]})[0] for pixels in photos]
    )
    centred = dict(weights)
    centred[LINEAR_BIAS_KEY] = (-weights[LINEAR_WEIGHT_KEY] @ pooled.mean(axis=0)).astype(
        np.float32
    )
    metadata = {"geopin.trained": "false", "geopin.description": "seeded, centred head"}
    write_model(build_cosplace_onnx(centred, backbone, dim, metadata), path)
