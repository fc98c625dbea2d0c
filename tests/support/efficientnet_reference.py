"""A plain numpy forward pass of the default model, the yardstick its ONNX graph is checked against.

Like :mod:`geopin_tools.model.reference` for CosPlace, it shares no code with the graph's builder
(:mod:`geopin_tools.model.efficientnet_onnx`) or its block table: the structure is read from the
state_dict's keys and shapes, the padding is computed from TensorFlow's definition of "same",
and only the strides, which no key records, are stated again here. It computes in float64 and
favours being obviously right over being fast.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

Array = npt.NDArray[np.float64]

_BN_EPS = 1e-3  # TensorFlow's, kept by the weights' conversion
_GEM_P = 3.0
_GEM_EPS = 1e-6
_NORMALISE_EPS = 1e-12
_STRIDE_2_BLOCKS = frozenset({1, 3, 5, 11})  # the first block of stages 2, 3, 4 and 6
_IMAGENET_MEAN = np.array([0.485, 0.456, 0.406]).reshape(1, 3, 1, 1)
_IMAGENET_STD = np.array([0.229, 0.224, 0.225]).reshape(1, 3, 1, 1)


def lite0_reference_embed(
    state_dict: Mapping[str, npt.NDArray[Any]], images: npt.ArrayLike
) -> Array:
    """Embed ImageNet-normalised images [N, 3, H, W] into unit descriptors [N, 1280], float64."""
    weights = {key: np.asarray(value, dtype=np.float64) for key, value in state_dict.items()}
    x = np.asarray(images, dtype=np.float64)
    if x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f"images must be [N, 3, H, W], got shape {x.shape}")
    pixels = x * _IMAGENET_STD + _IMAGENET_MEAN  # back to [0, 1]
    x = (pixels * 255.0 - 127.0) / 128.0  # what the TensorFlow lite weights were trained on
    x = _relu6(_batch_norm(_same_conv(x, weights["_conv_stem.weight"], 2), weights, "_bn0"))
    block = 0
    while f"_blocks.{block}._depthwise_conv.weight" in weights:
        x = _inverted_residual(x, weights, block)
        block += 1
    x = _relu6(_batch_norm(_same_conv(x, weights["_conv_head.weight"], 1), weights, "_bn1"))
    x = _normalise(x, axis=1)
    pooled = np.mean(np.maximum(x, _GEM_EPS) ** _GEM_P, axis=(2, 3)) ** (1.0 / _GEM_P)
    return _normalise(pooled, axis=1)


def _inverted_residual(x: Array, weights: Mapping[str, Array], block: int) -> Array:
    prefix = f"_blocks.{block}"
    stride = 2 if block in _STRIDE_2_BLOCKS else 1
    out = x
    if f"{prefix}._expand_conv.weight" in weights:
        out = _same_conv(out, weights[f"{prefix}._expand_conv.weight"], 1)
        out = _relu6(_batch_norm(out, weights, f"{prefix}._bn0"))
    out = _depthwise_same_conv(out, weights[f"{prefix}._depthwise_conv.weight"], stride)
    out = _relu6(_batch_norm(out, weights, f"{prefix}._bn1"))
    out = _batch_norm(
        _same_conv(out, weights[f"{prefix}._project_conv.weight"], 1), weights, f"{prefix}._bn2"
    )
    if stride == 1 and out.shape == x.shape:
        out = out + x
    return out


def _tf_same_pad(x: Array, kernel: int, stride: int) -> Array:
    """Zero padding so the output is ceil(size / stride); an odd pixel goes after, as in TF."""
    pads = []
    for size in x.shape[2:]:
        total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
        pads.append((total // 2, total - total // 2))
    return np.pad(x, ((0, 0), (0, 0), *pads))


def _same_conv(x: Array, kernel: Array, stride: int) -> Array:
    """A full convolution (every input channel to every output channel), no bias."""
    size = kernel.shape[-1]
    windows = sliding_window_view(_tf_same_pad(x, size, stride), (size, size), axis=(2, 3))
    windows = windows[:, :, ::stride, ::stride]  # [N, C_in, H', W', k, k]
    out = np.tensordot(windows, kernel, axes=([1, 4, 5], [1, 2, 3]))  # [N, H', W', C_out]
    return np.ascontiguousarray(out.transpose(0, 3, 1, 2))


def _depthwise_same_conv(x: Array, kernel: Array, stride: int) -> Array:
    """Each channel convolved with its own k x k kernel (weights [C, 1, k, k])."""
    size = kernel.shape[-1]
    windows = sliding_window_view(_tf_same_pad(x, size, stride), (size, size), axis=(2, 3))
    windows = windows[:, :, ::stride, ::stride]  # [N, C, H', W', k, k]
    out: Array = np.einsum("nchwij,cij->nchw", windows, kernel[:, 0])
    return out


def _batch_norm(x: Array, weights: Mapping[str, Array], prefix: str) -> Array:
    def per_channel(field: str) -> Array:
        return weights[f"{prefix}.{field}"].reshape(1, -1, 1, 1)

    scale = per_channel("weight") / np.sqrt(per_channel("running_var") + _BN_EPS)
    return (x - per_channel("running_mean")) * scale + per_channel("bias")


def _relu6(x: Array) -> Array:
    return np.clip(x, 0.0, 6.0)


def _normalise(x: Array, axis: int) -> Array:
    norm = np.sqrt(np.sum(x * x, axis=axis, keepdims=True))
    normalised: Array = x / np.maximum(norm, _NORMALISE_EPS)
    return normalised
