"""The CosPlace network's shape: which backbones exist and what their state_dicts hold.

Everything that must agree with the official CosPlace checkpoints (gmberton/CosPlace) lives
here, in one place: the block table of each torchvision ResNet and VGG16's conv table, the
exact state_dict keys and shapes, a torch-free seeded initialisation, and the inverse,
recognising a checkpoint's backbone and descriptor size D from its keys alone. The ONNX builder
and the numpy reference consume a state_dict; this module is what says whether that state_dict
is one they can read.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
import numpy.typing as npt

StateDict = dict[str, npt.NDArray[Any]]

GEM_P_KEY = "aggregation.1.p"
LINEAR_WEIGHT_KEY = "aggregation.3.weight"
LINEAR_BIAS_KEY = "aggregation.3.bias"
_DATA_PARALLEL_PREFIX = "module."
_GEM_INITIAL_P = 3.0  # CosPlace's GeM starts at p = 3
_FIRST_STAGE_MODULE = 4  # backbone.4 .. backbone.7 are layer1 .. layer4 after children()[:-2]
_STAGE_WIDTHS = (64, 128, 256, 512)
_BN_FIELDS = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
_BLOCK_KEY = re.compile(r"^backbone\.(\d+)\.(\d+)\.")
_VGG_MARKER = "backbone.0.bias"  # VGG convs have biases; a ResNet's conv1 has none
# torchvision's VGG16 features ("configuration D") as stages of 3x3 conv widths; a 2x2 max pool
# ends each stage. CosPlace keeps features[:-2], dropping the last ReLU and the last pool.
_VGG16_STAGES = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))


class Backbone(StrEnum):
    """Backbones CosPlace publishes weights for; values match its ``{backbone}_{D}`` file names."""

    RESNET18 = "ResNet18"
    RESNET34 = "ResNet34"
    RESNET50 = "ResNet50"
    RESNET101 = "ResNet101"
    RESNET152 = "ResNet152"
    VGG16 = "VGG16"


class BlockKind(StrEnum):
    """torchvision's two residual blocks: two 3x3 convs, or 1x1-3x3-1x1 with 4x expansion."""

    BASIC = "basic"
    BOTTLENECK = "bottleneck"

    @property
    def expansion(self) -> int:
        """Output channels of a block over its width, as torchvision's ``expansion``."""
        return 4 if self is BlockKind.BOTTLENECK else 1


@dataclass(frozen=True)
class ResNetLayout:
    """One row of the ResNet block table: the block kind and how many blocks each stage has."""

    block: BlockKind
    blocks_per_stage: tuple[int, int, int, int]


class UnknownLayout(ValueError):
    """A state_dict is not a CosPlace network GeoPin can build; the message says what differs."""


@dataclass(frozen=True)
class VggConv:
    """One 3x3 conv (with bias) of CosPlace's VGG16 backbone and what follows it."""

    module: int  # its index in ``features``, hence its keys ``backbone.<module>.weight|bias``
    in_channels: int
    out_channels: int
    relu: bool  # False only for the last conv, whose ReLU features[:-2] drops
    max_pool: bool  # a 2x2 max pool closes the stage (not after the last stage)


def vgg16_convs() -> tuple[VggConv, ...]:
    """VGG16's convs in order; module indices count each conv, ReLU and pool as torch does."""
    convs: list[VggConv] = []
    module, in_channels = 0, 3
    for stage, widths in enumerate(_VGG16_STAGES):
        last_stage = stage == len(_VGG16_STAGES) - 1
        for position, width in enumerate(widths):
            closes_stage = position == len(widths) - 1
            convs.append(
                VggConv(
                    module,
                    in_channels,
                    width,
                    relu=not (closes_stage and last_stage),
                    max_pool=closes_stage and not last_stage,
                )
            )
            module += 3 if closes_stage else 2  # conv, ReLU and, closing a stage, the pool
            in_channels = width
    return tuple(convs)


RESNET_LAYOUTS: Mapping[Backbone, ResNetLayout] = {
    Backbone.RESNET18: ResNetLayout(BlockKind.BASIC, (2, 2, 2, 2)),
    Backbone.RESNET34: ResNetLayout(BlockKind.BASIC, (3, 4, 6, 3)),
    Backbone.RESNET50: ResNetLayout(BlockKind.BOTTLENECK, (3, 4, 6, 3)),
    Backbone.RESNET101: ResNetLayout(BlockKind.BOTTLENECK, (3, 4, 23, 3)),
    Backbone.RESNET152: ResNetLayout(BlockKind.BOTTLENECK, (3, 8, 36, 3)),
}


def backbone_channels(backbone: Backbone) -> int:
    """Channels of the backbone's last feature map: the input size of CosPlace's Linear."""
    if backbone is Backbone.VGG16:
        return _VGG16_STAGES[-1][-1]
    return _STAGE_WIDTHS[-1] * RESNET_LAYOUTS[backbone].block.expansion


def expected_shapes(backbone: Backbone, dim: int) -> dict[str, tuple[int, ...]]:
    """Every key of the official state_dict with its shape, in torch's registration order.

    The order matters only for seeding: it makes ``seeded_state_dict`` draw the same numbers for
    the same key on every platform.
    """
    if backbone is Backbone.VGG16:
        shapes = _vgg16_shapes()
    else:
        shapes = _resnet_shapes(RESNET_LAYOUTS[backbone])
    shapes[GEM_P_KEY] = (1,)
    shapes[LINEAR_WEIGHT_KEY] = (dim, backbone_channels(backbone))
    shapes[LINEAR_BIAS_KEY] = (dim,)
    return shapes


def _vgg16_shapes() -> dict[str, tuple[int, ...]]:
    shapes: dict[str, tuple[int, ...]] = {}
    for conv in vgg16_convs():
        shapes[f"backbone.{conv.module}.weight"] = (conv.out_channels, conv.in_channels, 3, 3)
        shapes[f"backbone.{conv.module}.bias"] = (conv.out_channels,)
    return shapes


def _resnet_shapes(layout: ResNetLayout) -> dict[str, tuple[int, ...]]:
    shapes: dict[str, tuple[int, ...]] = {"backbone.0.weight": (64, 3, 7, 7)}
    shapes.update(batch_norm_shapes("backbone.1", 64))
    in_channels = 64
    for stage, (width, blocks) in enumerate(
        zip(_STAGE_WIDTHS, layout.blocks_per_stage, strict=True)
    ):
        out_channels = width * layout.block.expansion
        for index in range(blocks):
            prefix = f"backbone.{_FIRST_STAGE_MODULE + stage}.{index}"
            shapes.update(_block_shapes(prefix, layout.block, in_channels, width))
            if index == 0 and (stage > 0 or in_channels != out_channels):
                shapes[f"{prefix}.downsample.0.weight"] = (out_channels, in_channels, 1, 1)
                shapes.update(batch_norm_shapes(f"{prefix}.downsample.1", out_channels))
            in_channels = out_channels
    return shapes


def _block_shapes(
    prefix: str, kind: BlockKind, in_channels: int, width: int
) -> dict[str, tuple[int, ...]]:
    """Shapes of one residual block's convs and batch norms (its downsample excluded)."""
    if kind is BlockKind.BASIC:
        convs = [(width, in_channels, 3, 3), (width, width, 3, 3)]
    else:
        convs = [(width, in_channels, 1, 1), (width, width, 3, 3), (width * 4, width, 1, 1)]
    shapes: dict[str, tuple[int, ...]] = {}
    for number, conv in enumerate(convs, start=1):
        shapes[f"{prefix}.conv{number}.weight"] = conv
        shapes.update(batch_norm_shapes(f"{prefix}.bn{number}", conv[0]))
    return shapes


def batch_norm_shapes(prefix: str, channels: int) -> dict[str, tuple[int, ...]]:
    return {
        f"{prefix}.{field}": () if field == "num_batches_tracked" else (channels,)
        for field in _BN_FIELDS
    }


def seeded_state_dict(backbone: Backbone, dim: int, seed: int) -> StateDict:
    """Untrained weights in the official layout, the same for the same seed.

    They give tests and a first deployment a real network of the right shape without torch or
    a download; they use torchvision's initialisation so activations stay in a realistic range.
    """
    rng = np.random.default_rng(seed)
    shapes = expected_shapes(backbone, dim)
    fan_in = shapes[LINEAR_WEIGHT_KEY][1]
    return {key: _seed_tensor(rng, key, shape, fan_in) for key, shape in shapes.items()}


def _seed_tensor(
    rng: np.random.Generator, key: str, shape: tuple[int, ...], linear_fan_in: int
) -> npt.NDArray[Any]:
    """One tensor initialised as torchvision/torch would, chosen by its key and rank."""
    if key == GEM_P_KEY:
        return np.full(shape, _GEM_INITIAL_P, dtype=np.float32)
    if key in (LINEAR_WEIGHT_KEY, LINEAR_BIAS_KEY):
        bound = 1.0 / np.sqrt(linear_fan_in)
        return rng.uniform(-bound, bound, size=shape).astype(np.float32)
    if key.endswith(".num_batches_tracked"):
        return np.zeros(shape, dtype=np.int64)
    if len(shape) == 4:  # conv: He-normal, fan_out, ReLU gain
        std = np.float32(np.sqrt(2.0 / (shape[0] * shape[2] * shape[3])))
        return rng.standard_normal(shape, dtype=np.float32) * std
    if key.endswith((".running_var", ".weight")):  # batch norm scale and variance
        return np.ones(shape, dtype=np.float32)
    return np.zeros(shape, dtype=np.float32)  # batch norm bias and running mean


def strip_data_parallel_prefix(state_dict: Mapping[str, npt.NDArray[Any]]) -> StateDict:
    """Drop the ``module.`` that ``nn.DataParallel`` puts before every key when saved wrapped."""
    if state_dict and all(key.startswith(_DATA_PARALLEL_PREFIX) for key in state_dict):
        return {key.removeprefix(_DATA_PARALLEL_PREFIX): v for key, v in state_dict.items()}
    return dict(state_dict)


def infer_architecture(state_dict: Mapping[str, npt.NDArray[Any]]) -> tuple[Backbone, int]:
    """Recognise the backbone and descriptor size D of a CosPlace state_dict.

    A checkpoint names neither, so they are read from its structure: VGG16 if the first conv has
    a bias, else a ResNet by its blocks per stage (bottleneck blocks if ``conv3`` exists); D from
    the Linear. Anything short of an exact match of every key and shape raises
    ``UnknownLayout``, so a wrong file fails here and not deep inside a graph.
    """
    weights = strip_data_parallel_prefix(state_dict)
    for anchor in ("backbone.0.weight", LINEAR_WEIGHT_KEY):
        if anchor not in weights:
            raise UnknownLayout(f"not a CosPlace state_dict: key {anchor!r} is missing")
    backbone = Backbone.VGG16 if _VGG_MARKER in weights else _resnet_backbone(weights)
    linear = weights[LINEAR_WEIGHT_KEY]
    if linear.ndim != 2:
        raise UnknownLayout(f"{LINEAR_WEIGHT_KEY} has shape {linear.shape}, expected [D, channels]")
    dim = int(linear.shape[0])
    require_exact_layout(weights, expected_shapes(backbone, dim), f"CosPlace {backbone} D={dim}")
    return backbone, dim


def _resnet_backbone(weights: Mapping[str, object]) -> Backbone:
    """The ResNet whose block table the keys follow."""
    kind = BlockKind.BOTTLENECK if "backbone.4.0.conv3.weight" in weights else BlockKind.BASIC
    found = ResNetLayout(kind, _count_blocks(weights))
    backbone = next((b for b, layout in RESNET_LAYOUTS.items() if layout == found), None)
    if backbone is None:
        known = ", ".join(
            f"{b} {layout.block} {list(layout.blocks_per_stage)}"
            for b, layout in RESNET_LAYOUTS.items()
        )
        raise UnknownLayout(
            f"{kind} blocks per stage {list(found.blocks_per_stage)} match no known backbone "
            f"(known: {known})"
        )
    return backbone


def _count_blocks(weights: Mapping[str, object]) -> tuple[int, int, int, int]:
    """Blocks per stage, as one more than the highest block index seen under each stage."""
    counts = [0, 0, 0, 0]
    for key in weights:
        match = _BLOCK_KEY.match(key)
        if match is None:
            continue
        stage = int(match.group(1)) - _FIRST_STAGE_MODULE
        if 0 <= stage < len(counts):
            counts[stage] = max(counts[stage], int(match.group(2)) + 1)
    return counts[0], counts[1], counts[2], counts[3]


def require_exact_layout(
    weights: Mapping[str, npt.NDArray[Any]], expected: Mapping[str, tuple[int, ...]], name: str
) -> None:
    missing = [key for key in expected if key not in weights]
    unexpected = sorted(key for key in weights if key not in expected)
    wrong = [
        f"{key} {list(weights[key].shape)} (expected {list(shape)})"
        for key, shape in expected.items()
        if key in weights and tuple(weights[key].shape) != shape
    ]
    problems = [
        f"{label}: {_first_few(items)}"
        for label, items in (
            ("missing keys", missing),
            ("unexpected keys", unexpected),
            ("wrong shapes", wrong),
        )
        if items
    ]
    if problems:
        raise UnknownLayout(f"state_dict does not match {name}: " + "; ".join(problems))


def _first_few(items: list[str], limit: int = 5) -> str:
    """A readable list for an error message, however many thousand items there are."""
    shown = ", ".join(items[:limit])
    return shown if len(items) <= limit else f"{shown} and {len(items) - limit} more"
