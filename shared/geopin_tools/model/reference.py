"""A plain numpy forward pass of CosPlace, the yardstick the ONNX graph is checked against.

CI has no torch, so the graph built by ``onnx_builder`` needs another implementation to be
compared with. This one is written separately on purpose and shares no code with the builder:
a mistake would have to be made twice, the same way, to pass unnoticed. It reads the network's
structure from the state_dict's keys, computes in float64, and favours being obviously right
over being fast (it is still quick enough for small images).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

Array = npt.NDArray[np.float64]

_BN_EPS = 1e-5  # torch BatchNorm2d default
_NORMALISE_EPS = 1e-12  # torch F.normalize default
_GEM_EPS = 1e-6  # CosPlace GeM clamp


def l2_normalise(x: npt.ArrayLike, axis: int, eps: float = _NORMALISE_EPS) -> Array:
    """``x / max(||x||_2, eps)`` along ``axis``, as torch ``F.normalize`` (zeros stay zeros)."""
    values = np.asarray(x, dtype=np.float64)
    norm = np.sqrt(np.sum(values * values, axis=axis, keepdims=True))
    normalised: Array = values / np.maximum(norm, eps)
    return normalised


def gem(x: npt.ArrayLike, p: float, eps: float = _GEM_EPS) -> Array:
    """Generalised mean pooling of [N, C, H, W] to [N, C]: ``mean_hw(max(x, eps)^p)^(1/p)``.

    p = 1 is average pooling and large p tends to max pooling; CosPlace learns p.
    """
    values = np.asarray(x, dtype=np.float64)
    pooled: Array = np.mean(np.maximum(values, eps) ** p, axis=(2, 3)) ** (1.0 / p)
    return pooled


def reference_embed(state_dict: Mapping[str, npt.NDArray[Any]], images: npt.ArrayLike) -> Array:
    """Embed normalised images [N, 3, H, W] into unit descriptors [N, D], in float64."""
    weights = {
        key.removeprefix("module."): np.asarray(value, dtype=np.float64)
        for key, value in state_dict.items()
    }
    x = np.asarray(images, dtype=np.float64)
    if x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f"images must be [N, 3, H, W], got shape {x.shape}")
    x = _vgg_features(x, weights) if "backbone.0.bias" in weights else _resnet(x, weights)
    pooled = gem(l2_normalise(x, axis=1), float(weights["aggregation.1.p"][0]))
    descriptor = pooled @ weights["aggregation.3.weight"].T + weights["aggregation.3.bias"]
    return l2_normalise(descriptor, axis=1)


def _resnet(x: Array, weights: Mapping[str, Array]) -> Array:
    """conv1, bn1, ReLU, max pool, then the residual blocks of layer1 .. layer4."""
    x = _relu(_batch_norm(_conv(x, weights["backbone.0.weight"], 2), weights, "backbone.1"))
    x = _max_pool_3x3_stride_2(x)
    for layer in (4, 5, 6, 7):  # layer1 .. layer4
        block = 0
        while f"backbone.{layer}.{block}.conv1.weight" in weights:
            first_of_downsampling_layer = layer > 4 and block == 0
            stride = 2 if first_of_downsampling_layer else 1
            x = _residual_block(x, weights, f"backbone.{layer}.{block}", stride)
            block += 1
    return x


def _vgg_features(x: Array, weights: Mapping[str, Array]) -> Array:
    """VGG16 ``features[:-2]``, read from the keys: a conv sits at every index with a bias.

    The gap between two conv indices says what lies between them: 2 is a ReLU, 3 a ReLU and a
    2x2 max pool. Nothing follows the last conv, because CosPlace cut the ReLU and pool after it.
    """
    convs = sorted(
        int(key.split(".")[1])
        for key in weights
        if key.startswith("backbone.") and key.endswith(".bias")
    )
    for module, following in zip(convs, [*convs[1:], None], strict=True):
        bias = weights[f"backbone.{module}.bias"][None, :, None, None]
        x = _conv(x, weights[f"backbone.{module}.weight"], 1) + bias
        if following is None:
            break
        x = _relu(x)
        if following - module == 3:
            x = _max_pool_2x2(x)
    return x


def _residual_block(x: Array, weights: Mapping[str, Array], prefix: str, stride: int) -> Array:
    """A basic block, or a bottleneck (if it has conv3) with its stride on the 3x3 conv."""
    if f"{prefix}.conv3.weight" in weights:
        out = _relu(_conv_bn(x, weights, prefix, 1, stride=1))
        out = _relu(_conv_bn(out, weights, prefix, 2, stride=stride))
        out = _conv_bn(out, weights, prefix, 3, stride=1)
    else:
        out = _relu(_conv_bn(x, weights, prefix, 1, stride=stride))
        out = _conv_bn(out, weights, prefix, 2, stride=1)
    if f"{prefix}.downsample.0.weight" in weights:
        shortcut = _conv(x, weights[f"{prefix}.downsample.0.weight"], stride)
        x = _batch_norm(shortcut, weights, f"{prefix}.downsample.1")
    return _relu(out + x)


def _conv_bn(
    x: Array, weights: Mapping[str, Array], prefix: str, number: int, stride: int
) -> Array:
    """``bn{number}(conv{number}(x))`` of one block."""
    convolved = _conv(x, weights[f"{prefix}.conv{number}.weight"], stride)
    return _batch_norm(convolved, weights, f"{prefix}.bn{number}")


def _conv(x: Array, kernel: Array, stride: int) -> Array:
    """Cross-correlation with zero padding k // 2 and no bias, as torchvision's ResNet and VGG.

    Each output pixel is the dot product of its input window with the kernel: windows are a
    strided view (no copy) and tensordot contracts channels and kernel rows and columns.
    """
    size = kernel.shape[-1]
    pad = size // 2
    padded = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    windows = sliding_window_view(padded, (size, size), axis=(2, 3))[:, :, ::stride, ::stride]
    out = np.tensordot(windows, kernel, axes=([1, 4, 5], [1, 2, 3]))  # [N, H', W', C_out]
    return np.ascontiguousarray(out.transpose(0, 3, 1, 2))


def _max_pool_3x3_stride_2(x: Array) -> Array:
    """The ResNet stem's max pool; padding is -inf so it never wins, as in torch."""
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)), constant_values=-np.inf)
    windows = sliding_window_view(padded, (3, 3), axis=(2, 3))[:, :, ::2, ::2]
    return np.asarray(windows.max(axis=(4, 5)), dtype=np.float64)


def _max_pool_2x2(x: Array) -> Array:
    """VGG's max pool: 2x2 windows at stride 2, an odd last row or column dropped, as torch."""
    windows = sliding_window_view(x, (2, 2), axis=(2, 3))[:, :, ::2, ::2]
    return np.asarray(windows.max(axis=(4, 5)), dtype=np.float64)


def _batch_norm(x: Array, weights: Mapping[str, Array], prefix: str) -> Array:
    """Inference-mode batch norm with the running statistics."""

    def per_channel(field: str) -> Array:
        return weights[f"{prefix}.{field}"][None, :, None, None]

    scale = per_channel("weight") / np.sqrt(per_channel("running_var") + _BN_EPS)
    return (x - per_channel("running_mean")) * scale + per_channel("bias")


def _relu(x: Array) -> Array:
    return np.maximum(x, 0.0)
