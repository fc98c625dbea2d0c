"""An FP16 copy of the CosPlace graph, for the CUDA execution provider.

TensorRT builds half-precision engines itself (``trt_fp16_enable``); the CUDA provider runs
whatever types the graph has, so half precision there means converting the graph. Only the
backbone is converted: its convolutions are where the time goes and where tensor cores help.
The head stays in FP32 because half precision breaks it: the channel-wise L2 norm sums the
squares of 512-2048 unbounded activations (FP16 overflows above 65504), and GeM raises values
near 1/sqrt(channels) to the power p (about 1e-5, below FP16's normal range). Inputs and outputs
keep FP32, so callers and the index see the same types as with the FP32 model.

The conversion is written here rather than taken from onnxconverter-common or ONNX Runtime's
transformers tools: with the head blocked from conversion, the former still turns the graph's
output into FP16 (its ``keep_io_types`` misses outputs of blocked nodes, 1.16.0) and the latter
casts to FP16 and back between every two head nodes, losing the precision the block is for.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

# Every op of the CosPlace head (geopin_tools.model.onnx_builder._cosplace_head); none occurs in a
# ResNet or VGG backbone, which uses only Conv, BatchNormalization, Relu, MaxPool and Add.
HEAD_OPS = frozenset({"ReduceL2", "Max", "Div", "Pow", "ReduceMean", "Reciprocal", "Gemm"})
_FP16_MAX = float(np.finfo(np.float16).max)


def to_fp16(model: onnx.ModelProto) -> onnx.ModelProto:
    """The same network with FP16 backbone weights and activations; FP32 in, FP32 out.

    A Cast turns each FP32 graph input the backbone reads (the image) into FP16, and another
    turns each backbone tensor the head reads back into FP32. Raises ValueError for a weight
    beyond FP16's range, which would silently become infinite, and for a graph whose output
    comes straight from the backbone, which a CosPlace graph never has.
    """
    converted = onnx.ModelProto()
    converted.CopyFrom(model)
    graph = converted.graph
    backbone = [node for node in graph.node if node.op_type not in HEAD_OPS]
    produced = {name for node in backbone for name in node.output}
    read = {name for node in backbone for name in node.input}
    read_by_head = {name for node in graph.node if node.op_type in HEAD_OPS for name in node.input}
    if straight_out := produced & {output.name for output in graph.output}:
        raise ValueError(f"graph outputs {sorted(straight_out)} bypass the head: not CosPlace")

    for index, tensor in enumerate(graph.initializer):
        if tensor.name in read and tensor.name not in read_by_head:
            graph.initializer[index].CopyFrom(_half(tensor))
    inputs = {i.name for i in graph.input if i.name in read and _is_float(i.type)}
    nodes = [_cast(name, _fp16_name(name), TensorProto.FLOAT16) for name in sorted(inputs)]
    for node in graph.node:
        in_backbone = node.op_type not in HEAD_OPS
        for position, name in enumerate(node.input):
            if in_backbone and name in inputs:
                node.input[position] = _fp16_name(name)
            elif not in_backbone and name in produced:
                node.input[position] = _fp32_name(name)
        nodes.append(node)
        if in_backbone:
            leaving = [name for name in node.output if name in read_by_head]
            nodes.extend(_cast(name, _fp32_name(name), TensorProto.FLOAT) for name in leaving)
    del graph.node[:]
    graph.node.extend(nodes)
    del graph.value_info[:]  # FP32 types recorded for backbone tensors would now be wrong
    return converted


def _half(tensor: onnx.TensorProto) -> onnx.TensorProto:
    values = numpy_helper.to_array(tensor)
    if values.dtype != np.float32:
        return tensor
    if values.size and float(np.abs(values).max()) > _FP16_MAX:
        raise ValueError(f"weight {tensor.name} exceeds FP16's range: keep this model in FP32")
    return numpy_helper.from_array(values.astype(np.float16), tensor.name)


def _is_float(value_type: onnx.TypeProto) -> bool:
    return bool(value_type.tensor_type.elem_type == TensorProto.FLOAT)


def _cast(source: str, target: str, to: int) -> onnx.NodeProto:
    return helper.make_node("Cast", [source], [target], name=f"Cast_{target}", to=to)


def _fp16_name(name: str) -> str:
    return f"{name}_fp16"


def _fp32_name(name: str) -> str:
    return f"{name}_fp32"
