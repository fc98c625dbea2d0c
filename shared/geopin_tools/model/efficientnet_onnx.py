"""EfficientNet-Lite0 under CosPlace's aggregation, written as ONNX from numpy weights.

This is the graph of GeoPin's default model. It takes the same input as every GeoPin model
(ImageNet-normalised RGB, any height and width) and converts it in the graph to the range the
TensorFlow lite weights were trained on. Convolutions pad as TensorFlow's "same" does (output
ceil(size / stride), the odd pixel of padding after, not before), which ONNX's ``auto_pad =
SAME_UPPER`` states exactly and keeps height and width dynamic. The head is CosPlace's without
its Linear: L2 over channels, GeM (p = 3, CosPlace's starting value), L2. D is the backbone's
1280 channels: no projection is learnt, because no generic photo set is at hand to learn one
from without leaking the photos GeoPin is measured on.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
import onnx

from geopin_tools.model.efficientnet import (
    BN_EPS,
    HEAD_CHANNELS,
    LITE_INPUT_MEAN,
    LITE_INPUT_STD,
    RELU6_MAX,
    MBConv,
    check_lite0_layout,
    lite0_blocks,
)
from geopin_tools.model.export import IMAGENET_MEAN, IMAGENET_STD
from geopin_tools.model.onnx_builder import (
    INPUT_NAME,
    OUTPUT_NAME,
    GraphWriter,
    finish_model,
    gem,
    l2_normalise,
    model_identity,
)

BACKBONE = "EfficientNet-Lite0"
GEM_P = 3.0
# What the graph does besides the weights; part of the identity, so changing it changes the id.
HEAD = {"input": "imagenet-to-lite", "pooling": "l2,gem,l2", "gem_p": GEM_P, "projection": None}
_IDENTITY_VERSION = "geopin-efficientnet-lite0-cosplace-head-v1"


def lite0_identity(state_dict: Mapping[str, npt.NDArray[Any]]) -> str:
    """SHA-256 of the weights' identity and of the head, as every index records it."""
    head = json.dumps(HEAD, sort_keys=True, separators=(",", ":"))
    text = f"{_IDENTITY_VERSION}\n{model_identity(state_dict)}\n{head}"
    return hashlib.sha256(text.encode()).hexdigest()


def build_lite0_onnx(
    state_dict: Mapping[str, npt.NDArray[Any]], metadata: Mapping[str, str]
) -> onnx.ModelProto:
    """``image`` [batch, 3, H, W] (ImageNet-normalised) -> unit ``embedding`` [batch, 1280]."""
    check_lite0_layout(state_dict)
    graph = GraphWriter(state_dict)
    x = _to_lite_input(graph, INPUT_NAME)
    x = _conv_bn(graph, x, "_conv_stem.weight", "_bn0", stride=2)
    for block in lite0_blocks():
        x = _mbconv(graph, x, block)
    x = _conv_bn(graph, x, "_conv_head.weight", "_bn1", stride=1)
    p = graph.constant("gem_p", np.array([GEM_P], np.float32))
    l2_normalise(graph, gem(graph, l2_normalise(graph, x), p), output=OUTPUT_NAME)
    identity = lite0_identity(state_dict)
    name = "efficientnet-lite0-cosplace-head"
    return finish_model(graph, name, HEAD_CHANNELS, metadata, BACKBONE, identity)


def _to_lite_input(graph: GraphWriter, x: str) -> str:
    """ImageNet-normalised x back to pixels p, then to (255 p - 127) / 128, as one multiply-add."""
    mean = np.array(IMAGENET_MEAN, np.float64)
    std = np.array(IMAGENET_STD, np.float64)
    scale = (255.0 * std / LITE_INPUT_STD).astype(np.float32).reshape(1, 3, 1, 1)
    shift = ((255.0 * mean - LITE_INPUT_MEAN) / LITE_INPUT_STD).astype(np.float32)
    scaled = graph.op("Mul", [x, graph.constant("lite_input_scale", scale)])
    return graph.op("Add", [scaled, graph.constant("lite_input_shift", shift.reshape(1, 3, 1, 1))])


def _mbconv(graph: GraphWriter, x: str, block: MBConv) -> str:
    """Expand (1x1), depthwise (k x k, strided), project (1x1, linear); skip where shapes match."""
    y = x
    if block.has_expansion:
        y = _conv_bn(graph, y, f"{block.prefix}._expand_conv.weight", f"{block.prefix}._bn0", 1)
    y = _conv_bn(
        graph,
        y,
        f"{block.prefix}._depthwise_conv.weight",
        f"{block.prefix}._bn1",
        block.stride,
        groups=block.hidden_channels,
    )
    y = _conv_bn(
        graph,
        y,
        f"{block.prefix}._project_conv.weight",
        f"{block.prefix}._bn2",
        1,
        activation=False,
    )
    return graph.op("Add", [y, x]) if block.has_skip else y


def _conv_bn(
    graph: GraphWriter,
    x: str,
    weight: str,
    batch_norm: str,
    stride: int,
    groups: int = 1,
    activation: bool = True,
) -> str:
    """A "same"-padded conv without bias, its batch norm, and ReLU6 unless told otherwise."""
    kernel = graph.shape(weight)[-1]
    y = graph.op(
        "Conv",
        [x, graph.weight(weight)],
        kernel_shape=[kernel, kernel],
        strides=[stride, stride],
        group=groups,
        auto_pad="SAME_UPPER",
    )
    y = graph.batch_norm(y, batch_norm, eps=BN_EPS)
    if not activation:
        return y
    low = graph.constant("relu6_min", np.array(0.0, np.float32))
    high = graph.constant("relu6_max", np.array(RELU6_MAX, np.float32))
    return graph.op("Clip", [y, low, high])
