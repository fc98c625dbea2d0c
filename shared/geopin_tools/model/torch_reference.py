"""CosPlace's forward pass in PyTorch, the parity reference wherever torch is installed.

``geopin model verify`` prefers it to the numpy reference because these are the kernels
CosPlace itself runs (torch's convolution, batch norm and pooling). It is written from
torchvision's and CosPlace's definitions with ``torch.nn.functional``, shares no code with the
ONNX builder, and is imported only when torch is importable: torch is not a GeoPin dependency
(it is a multi-GB install), so it is reached through ``importlib`` and typed as ``Any``.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

_BN_EPS = 1e-5  # torch BatchNorm2d default
_GEM_EPS = 1e-6  # CosPlace GeM clamp


def torch_version() -> str:
    return str(importlib.import_module("torch").__version__)


def torch_embed(
    state_dict: Mapping[str, npt.NDArray[Any]], images: npt.NDArray[np.float32]
) -> npt.NDArray[np.float64]:
    """Embed images [N, 3, H, W] with CosPlace's network in float64, as CosPlace writes it."""
    torch = importlib.import_module("torch")
    functional = importlib.import_module("torch.nn.functional")
    weights = {
        key.removeprefix("module."): torch.from_numpy(np.array(value, dtype=np.float64))
        for key, value in state_dict.items()
    }
    with torch.no_grad():
        x = torch.from_numpy(np.array(images, dtype=np.float64))
        if "backbone.0.bias" in weights:
            x = _vgg16_features(functional, weights, x)
        else:
            x = _resnet(functional, weights, x)
        x = functional.normalize(x, p=2.0, dim=1)
        p = weights["aggregation.1.p"]
        # CosPlace's GeM, verbatim in meaning: average pooling over the whole map
        x = functional.avg_pool2d(x.clamp(min=_GEM_EPS).pow(p), (x.size(-2), x.size(-1)))
        x = x.pow(1.0 / p).flatten(1)
        x = functional.linear(x, weights["aggregation.3.weight"], weights["aggregation.3.bias"])
        x = functional.normalize(x, p=2.0, dim=1)
    return np.asarray(x.numpy(), dtype=np.float64)


def _resnet(functional: Any, weights: Mapping[str, Any], x: Any) -> Any:
    """torchvision ResNet up to layer4: 7x7/2 conv, bn, ReLU, 3x3/2 max pool, residual blocks."""
    x = functional.conv2d(x, weights["backbone.0.weight"], stride=2, padding=3)
    x = functional.relu(_batch_norm(functional, weights, "backbone.1", x))
    x = functional.max_pool2d(x, kernel_size=3, stride=2, padding=1)
    for layer in range(4, 8):
        block = 0
        while f"backbone.{layer}.{block}.conv1.weight" in weights:
            stride = 2 if layer > 4 and block == 0 else 1
            x = _block(functional, weights, f"backbone.{layer}.{block}", x, stride)
            block += 1
    return x


def _block(functional: Any, weights: Mapping[str, Any], prefix: str, x: Any, stride: int) -> Any:
    """torchvision's BasicBlock (stride on conv1) or Bottleneck (stride on the 3x3 conv2)."""
    bottleneck = f"{prefix}.conv3.weight" in weights
    strides = {1: 1, 2: stride, 3: 1} if bottleneck else {1: stride, 2: 1}
    out = x
    for number, conv_stride in strides.items():
        kernel = weights[f"{prefix}.conv{number}.weight"]
        out = functional.conv2d(out, kernel, stride=conv_stride, padding=kernel.shape[-1] // 2)
        out = _batch_norm(functional, weights, f"{prefix}.bn{number}", out)
        if number < len(strides):
            out = functional.relu(out)
    if f"{prefix}.downsample.0.weight" in weights:
        x = functional.conv2d(x, weights[f"{prefix}.downsample.0.weight"], stride=stride)
        x = _batch_norm(functional, weights, f"{prefix}.downsample.1", x)
    return functional.relu(out + x)


def _batch_norm(functional: Any, weights: Mapping[str, Any], prefix: str, x: Any) -> Any:
    return functional.batch_norm(
        x,
        weights[f"{prefix}.running_mean"],
        weights[f"{prefix}.running_var"],
        weights[f"{prefix}.weight"],
        weights[f"{prefix}.bias"],
        training=False,
        eps=_BN_EPS,
    )


def _vgg16_features(functional: Any, weights: Mapping[str, Any], x: Any) -> Any:
    """VGG16 ``features[:-2]``: each conv's index gap to the next says ReLU (2) or ReLU+pool (3)."""
    convs = sorted(
        int(key.split(".")[1])
        for key in weights
        if key.startswith("backbone.") and key.endswith(".bias")
    )
    for module, following in zip(convs, [*convs[1:], None], strict=True):
        prefix = f"backbone.{module}"
        x = functional.conv2d(x, weights[f"{prefix}.weight"], weights[f"{prefix}.bias"], padding=1)
        if following is None:
            break
        x = functional.relu(x)
        if following - module == 3:
            x = functional.max_pool2d(x, kernel_size=2, stride=2)
    return x
