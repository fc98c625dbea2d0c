"""What a CosPlace model costs to run: multiply-accumulates per image, counted on its graph.

Choosing a backbone and a resolution is a trade of recall against compute, and benchmarks need
the model's arithmetic to say what share of the machine's peak they reach. Counting on the ONNX
graph itself keeps the figure true for whatever the builder writes, for any input size.
"""

from __future__ import annotations

from math import prod

import onnx
from onnx import TensorProto, helper

from geopin_tools.model.onnx_builder import INPUT_NAME


def macs_per_image(model: onnx.ModelProto, height: int, width: int) -> int:
    """Multiply-accumulates of the Conv and Gemm nodes for one image of ``height`` x ``width``.

    ONNX shape inference gives every Conv's output size; a Conv costs its output elements times
    (input channels / groups) times the kernel area, a Gemm M x N x K. Element-wise work (batch
    norm, ReLU, additions, the head's normalisations and GeM) is well under 1 % and left out,
    as in torchvision's published figures. One FLOP count is twice this.
    """
    inferred = onnx.shape_inference.infer_shapes(
        _shapes_only(model, height, width), strict_mode=True
    )
    graph = inferred.graph
    dims = {
        info.name: [d.dim_value for d in info.type.tensor_type.shape.dim]
        for info in (*graph.input, *graph.value_info, *graph.output)
    }
    total = 0
    for node in graph.node:
        if node.op_type == "Conv":
            total += prod(dims[node.output[0]]) * prod(dims[node.input[1]][1:])
        elif node.op_type == "Gemm":  # [1, K] x [N, K]^T: the weight's size, once per image
            total += prod(dims[node.input[1]])
    return total


def _shapes_only(model: onnx.ModelProto, height: int, width: int) -> onnx.ModelProto:
    """The same graph for one fixed-size image, its weights declared as inputs without data."""
    weights = [
        helper.make_tensor_value_info(tensor.name, tensor.data_type, list(tensor.dims))
        for tensor in model.graph.initializer
    ]
    image = helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, [1, 3, height, width])
    graph = helper.make_graph(
        list(model.graph.node), "shapes", [image, *weights], list(model.graph.output)
    )
    return helper.make_model(
        graph, opset_imports=list(model.opset_import), ir_version=model.ir_version
    )
