"""Build the CosPlace network as an ONNX graph straight from numpy weights.

GeoPin serves the model with ONNX Runtime and must not need torch to produce that model, so the
graph is written node by node here from the state_dict of an official checkpoint (or a seeded
one). The graph keeps batch, height and width symbolic: CosPlace embeds photos at their native
resolution, so any fixed spatial size baked in would be wrong for the next photo.
"""

from __future__ import annotations

import hashlib
import os
import struct
import tempfile
from collections.abc import Mapping
from itertools import count
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnx
from onnx import TensorProto, helper, numpy_helper

from geopin_tools.model.architecture import (
    GEM_P_KEY,
    LINEAR_BIAS_KEY,
    LINEAR_WEIGHT_KEY,
    RESNET_LAYOUTS,
    Backbone,
    BlockKind,
    UnknownLayout,
    infer_architecture,
    strip_data_parallel_prefix,
    vgg16_convs,
)

OPSET = 17  # the newest opset where ReduceMean/ReduceL2 still take their axes as an attribute
IR_VERSION = 8  # what opset 17 needs, and no newer: older ONNX Runtimes refuse newer IR versions
INPUT_NAME = "image"
OUTPUT_NAME = "embedding"
BN_EPS = 1e-5  # torch BatchNorm2d default
NORMALISE_EPS = 1e-12  # torch F.normalize default
GEM_EPS = 1e-6  # CosPlace GeM clamp
RESERVED_METADATA = ("geopin.backbone", "geopin.dim", "geopin.model_id")
_IDENTITY_VERSION = b"geopin-weights-v1"


class GraphWriter:
    """Accumulates nodes and initializers; initializers keep their state_dict key as name.

    Shared by every network GeoPin writes (CosPlace here, the default model's EfficientNet in
    :mod:`geopin_tools.model.efficientnet_onnx`), so each op is spelled one way.
    """

    def __init__(self, weights: Mapping[str, npt.NDArray[Any]]) -> None:
        self._weights = weights
        self._ids = count()
        self._initializer_names: set[str] = set()
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []

    def constant(self, name: str, value: npt.NDArray[Any]) -> str:
        """Add an initializer once; asking again by the same name reuses it."""
        if name not in self._initializer_names:
            self._initializer_names.add(name)
            self.initializers.append(numpy_helper.from_array(value, name))
        return name

    def weight(self, key: str) -> str:
        return self.constant(key, np.asarray(self._weights[key], dtype=np.float32))

    def has(self, key: str) -> bool:
        return key in self._weights

    def shape(self, key: str) -> tuple[int, ...]:
        return tuple(int(n) for n in self._weights[key].shape)

    def op(self, op_type: str, inputs: list[str], output: str | None = None, **attrs: Any) -> str:
        name = f"{op_type}_{next(self._ids)}"
        out = output or name
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=name, **attrs))
        return out

    def conv(self, x: str, key: str, stride: int, bias: str | None = None) -> str:
        """A torchvision conv, padded by kernel // 2 as every ResNet and VGG conv is."""
        kernel = int(self._weights[key].shape[-1])
        pad = kernel // 2
        return self.op(
            "Conv",
            [x, self.weight(key), *([self.weight(bias)] if bias else [])],
            kernel_shape=[kernel, kernel],
            strides=[stride, stride],
            pads=[pad, pad, pad, pad],
        )

    def batch_norm(self, x: str, prefix: str, eps: float = BN_EPS) -> str:
        params = [self.weight(f"{prefix}.{f}") for f in ("weight", "bias")]
        stats = [self.weight(f"{prefix}.{f}") for f in ("running_mean", "running_var")]
        return self.op("BatchNormalization", [x, *params, *stats], epsilon=eps)

    def relu(self, x: str) -> str:
        return self.op("Relu", [x])


def build_cosplace_onnx(
    state_dict: Mapping[str, npt.NDArray[Any]],
    backbone: Backbone,
    dim: int,
    metadata: Mapping[str, str],
) -> onnx.ModelProto:
    """The CosPlace graph for these weights: ``image`` [batch, 3, H, W] -> ``embedding`` [batch, D].

    ``backbone`` and ``dim`` are what the caller believes the weights are; they are checked
    against the weights themselves, so a mislabelled checkpoint fails here, not in production.
    The metadata is stored in the model with the backbone, D and the weights' identity.
    """
    inferred = infer_architecture(state_dict)
    if inferred != (backbone, dim):
        raise UnknownLayout(
            f"weights are CosPlace {inferred[0]} D={inferred[1]}, not {backbone} D={dim}"
        )
    weights = strip_data_parallel_prefix(state_dict)
    graph = GraphWriter(weights)
    if backbone is Backbone.VGG16:
        features = _vgg16_backbone(graph, INPUT_NAME)
    else:
        features = _resnet_backbone(graph, INPUT_NAME, backbone)
    _cosplace_head(graph, features)
    identity = model_identity(weights)
    return finish_model(graph, "cosplace", dim, metadata, str(backbone), identity)


def finish_model(
    graph: GraphWriter,
    name: str,
    dim: int,
    metadata: Mapping[str, str],
    backbone: str,
    model_id: str,
) -> onnx.ModelProto:
    """The written graph as a checked model: ``image`` [batch, 3, H, W] in, ``embedding``
    [batch, dim] out, with ``metadata`` and the keys only a builder sets (backbone, D, id)."""
    clash = sorted(set(metadata) & set(RESERVED_METADATA))
    if clash:
        raise ValueError(f"metadata keys {clash} are set by the builder itself")
    model = helper.make_model(
        helper.make_graph(
            graph.nodes,
            name,
            [
                helper.make_tensor_value_info(
                    INPUT_NAME, TensorProto.FLOAT, ["batch", 3, "height", "width"]
                )
            ],
            [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["batch", dim])],
            graph.initializers,
        ),
        opset_imports=[helper.make_opsetid("", OPSET)],
        ir_version=IR_VERSION,
        producer_name="geopin",
    )
    helper.set_model_props(
        model,
        {
            **metadata,
            "geopin.backbone": backbone,
            "geopin.dim": str(dim),
            "geopin.model_id": model_id,
        },
    )
    onnx.checker.check_model(model, full_check=True)
    return model


def _resnet_backbone(graph: GraphWriter, x: str, backbone: Backbone) -> str:
    """torchvision ResNet without avgpool and fc: conv1, bn1, relu, maxpool, layer1..layer4."""
    x = graph.relu(graph.batch_norm(graph.conv(x, "backbone.0.weight", stride=2), "backbone.1"))
    x = graph.op("MaxPool", [x], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    layout = RESNET_LAYOUTS[backbone]
    for stage, blocks in enumerate(layout.blocks_per_stage):
        for index in range(blocks):
            stride = 2 if stage > 0 and index == 0 else 1
            x = _residual_block(graph, x, f"backbone.{4 + stage}.{index}", layout.block, stride)
    return x


def _vgg16_backbone(graph: GraphWriter, x: str) -> str:
    """torchvision VGG16 ``features[:-2]``: 3x3 convs with ReLUs and 2x2 max pools."""
    for conv in vgg16_convs():
        prefix = f"backbone.{conv.module}"
        x = graph.conv(x, f"{prefix}.weight", stride=1, bias=f"{prefix}.bias")
        if conv.relu:
            x = graph.relu(x)
        if conv.max_pool:
            x = graph.op("MaxPool", [x], kernel_shape=[2, 2], strides=[2, 2])
    return x


def _residual_block(graph: GraphWriter, x: str, prefix: str, kind: BlockKind, stride: int) -> str:
    """One block; a bottleneck strides on its 3x3 conv (torchvision's "ResNet v1.5")."""
    strides = [stride, 1] if kind is BlockKind.BASIC else [1, stride, 1]
    y = x
    for number, conv_stride in enumerate(strides, start=1):
        y = graph.conv(y, f"{prefix}.conv{number}.weight", conv_stride)
        y = graph.batch_norm(y, f"{prefix}.bn{number}")
        if number < len(strides):
            y = graph.relu(y)
    shortcut = x
    if graph.has(f"{prefix}.downsample.0.weight"):
        shortcut = graph.conv(x, f"{prefix}.downsample.0.weight", stride)
        shortcut = graph.batch_norm(shortcut, f"{prefix}.downsample.1")
    return graph.relu(graph.op("Add", [y, shortcut]))


def _cosplace_head(graph: GraphWriter, features: str) -> str:
    """L2 over channels, GeM, Linear, L2, writing the graph output.

    GeM averages with ReduceMean over H and W rather than a pooling kernel of the feature map's
    size, which is what keeps height and width dynamic.
    """
    pooled = gem(graph, l2_normalise(graph, features), graph.weight(GEM_P_KEY))
    linear = graph.op(
        "Gemm", [pooled, graph.weight(LINEAR_WEIGHT_KEY), graph.weight(LINEAR_BIAS_KEY)], transB=1
    )
    return l2_normalise(graph, linear, output=OUTPUT_NAME)


def gem(graph: GraphWriter, x: str, p: str) -> str:
    """GeM pooling [N, C, H, W] -> [N, C]: ``mean_hw(max(x, eps)^p)^(1/p)``, p a graph value."""
    clamped = graph.op("Max", [x, graph.constant("gem_eps", np.array(GEM_EPS, np.float32))])
    mean = graph.op("ReduceMean", [graph.op("Pow", [clamped, p])], axes=[2, 3], keepdims=0)
    return graph.op("Pow", [mean, graph.op("Reciprocal", [p])])


def l2_normalise(graph: GraphWriter, x: str, output: str | None = None) -> str:
    """``x / max(||x||_2 over axis 1, eps)``, as torch ``F.normalize``."""
    norm = graph.op("ReduceL2", [x], axes=[1], keepdims=1)
    eps = graph.constant("normalise_eps", np.array(NORMALISE_EPS, np.float32))
    return graph.op("Div", [x, graph.op("Max", [norm, eps])], output=output)


def model_identity(state_dict: Mapping[str, npt.NDArray[Any]]) -> str:
    """SHA-256 of the weights themselves, so one checkpoint has one id however it is serialised.

    Each tensor contributes its name, dtype, shape and little-endian bytes, in sorted key
    order, every field length-prefixed so no two different state_dicts encode alike.
    """
    digest = hashlib.sha256(_IDENTITY_VERSION)
    weights = strip_data_parallel_prefix(state_dict)
    for key in sorted(weights):
        array = np.asarray(weights[key])
        array = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))
        fields = (key.encode(), array.dtype.str.encode(), repr(array.shape).encode())
        for field in (*fields, array.tobytes()):
            digest.update(struct.pack("<Q", len(field)))
            digest.update(field)
    return digest.hexdigest()


def write_model(model: onnx.ModelProto, path: str | os.PathLike[str]) -> None:
    """Write the model so that readers see the old file or the new one, never half of one."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    temporary = Path(name)
    try:
        with os.fdopen(handle, "wb") as f:
            f.write(model.SerializeToString())
            f.flush()
            os.fsync(f.fileno())
        temporary.chmod(0o644)  # mkstemp makes it private; workers under other users must read it
        temporary.replace(target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
