"""The block table, the official key layout, and recognising a checkpoint from its keys."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from geopin_tools.model.architecture import (
    Backbone,
    StateDict,
    UnknownLayout,
    backbone_channels,
    infer_architecture,
    seeded_state_dict,
)


@pytest.fixture(scope="module")
def resnet18() -> StateDict:
    return seeded_state_dict(Backbone.RESNET18, 32, seed=0)


@pytest.mark.parametrize("backbone", list(Backbone))
def test_infer_architecture_recognises_every_backbone(backbone: Backbone) -> None:
    weights = seeded_state_dict(backbone, 48, seed=1)
    assert infer_architecture(weights) == (backbone, 48)
    assert weights["aggregation.3.weight"].shape == (48, backbone_channels(backbone))


@pytest.mark.parametrize(
    ("backbone", "channels"),
    [
        (Backbone.RESNET18, 512),
        (Backbone.RESNET34, 512),
        (Backbone.RESNET50, 2048),
        (Backbone.RESNET101, 2048),
        (Backbone.RESNET152, 2048),
    ],
)
def test_backbone_channels_are_the_last_feature_map_width(
    backbone: Backbone, channels: int
) -> None:
    assert backbone_channels(backbone) == channels


def test_seeded_state_dict_uses_the_official_cosplace_keys(resnet18: StateDict) -> None:
    assert resnet18["backbone.0.weight"].shape == (64, 3, 7, 7)
    assert resnet18["backbone.4.0.conv1.weight"].shape == (64, 64, 3, 3)
    assert resnet18["backbone.5.0.downsample.0.weight"].shape == (128, 64, 1, 1)
    assert resnet18["backbone.5.0.downsample.1.running_var"].shape == (128,)
    assert "backbone.4.0.downsample.0.weight" not in resnet18  # layer1 keeps stride and width
    assert resnet18["aggregation.1.p"].tolist() == [3.0]
    assert resnet18["aggregation.3.bias"].shape == (32,)
    counter = resnet18["backbone.1.num_batches_tracked"]
    assert counter.dtype == np.int64
    assert counter.shape == ()
    floats = {k: v for k, v in resnet18.items() if not k.endswith("num_batches_tracked")}
    assert all(v.dtype == np.float32 for v in floats.values())
    assert not any(key.startswith("fc.") for key in resnet18)


def test_bottleneck_backbones_downsample_already_in_layer1() -> None:
    weights = seeded_state_dict(Backbone.RESNET50, 8, seed=0)
    assert weights["backbone.4.0.conv3.weight"].shape == (256, 64, 1, 1)
    assert weights["backbone.4.0.downsample.0.weight"].shape == (256, 64, 1, 1)
    assert weights["backbone.5.0.conv2.weight"].shape == (128, 128, 3, 3)


def test_seeded_state_dict_depends_only_on_the_seed(resnet18: StateDict) -> None:
    again = seeded_state_dict(Backbone.RESNET18, 32, seed=0)
    other = seeded_state_dict(Backbone.RESNET18, 32, seed=1)
    assert all(np.array_equal(resnet18[key], again[key]) for key in resnet18)
    assert not np.array_equal(resnet18["backbone.0.weight"], other["backbone.0.weight"])


def test_data_parallel_prefix_is_accepted(resnet18: StateDict) -> None:
    wrapped = {f"module.{key}": value for key, value in resnet18.items()}
    assert infer_architecture(wrapped) == (Backbone.RESNET18, 32)


def _without(*keys: str) -> Callable[[StateDict], StateDict]:
    return lambda weights: {k: v for k, v in weights.items() if k not in keys}


def _with(key: str, value: npt.NDArray[Any]) -> Callable[[StateDict], StateDict]:
    return lambda weights: {**weights, key: value}


def _first_half(weights: StateDict) -> StateDict:
    keys = list(weights)
    return {key: weights[key] for key in keys[: len(keys) // 2]}


def _without_running_vars(weights: StateDict) -> StateDict:
    return {k: v for k, v in weights.items() if not k.endswith("running_var")}


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        pytest.param(
            _first_half, "key 'aggregation.3.weight' is missing", id="truncated checkpoint"
        ),
        pytest.param(lambda _: {}, "key 'backbone.0.weight' is missing", id="empty"),
        pytest.param(
            _without("backbone.5.0.downsample.1.running_var"),
            "missing keys: backbone.5.0.downsample.1.running_var",
            id="one missing buffer",
        ),
        pytest.param(
            _without_running_vars,
            "missing keys: backbone.1.running_var, backbone.4.0.bn1.running_var, "
            "backbone.4.0.bn2.running_var, backbone.4.1.bn1.running_var, "
            "backbone.4.1.bn2.running_var and 15 more",
            id="long lists are summarised",
        ),
        pytest.param(
            _with("fc.weight", np.zeros((1000, 512), np.float32)),
            "unexpected keys: fc.weight",
            id="classifier left in",
        ),
        pytest.param(
            _with("backbone.4.0.conv1.weight", np.zeros((64, 64, 1, 1), np.float32)),
            "wrong shapes: backbone.4.0.conv1.weight [64, 64, 1, 1] (expected [64, 64, 3, 3])",
            id="wrong kernel",
        ),
        pytest.param(
            _with("backbone.7.2.conv1.weight", np.zeros((512, 512, 3, 3), np.float32)),
            "basic blocks per stage [2, 2, 2, 3] match no known backbone",
            id="extra block",
        ),
        pytest.param(
            _with("aggregation.3.weight", np.zeros((32,), np.float32)),
            "aggregation.3.weight has shape (32,), expected [D, channels]",
            id="flat linear",
        ),
    ],
)
def test_infer_architecture_rejects_anything_but_an_exact_layout(
    resnet18: StateDict, damage: Callable[[StateDict], StateDict], message: str
) -> None:
    with pytest.raises(UnknownLayout, match=re.escape(message)):
        infer_architecture(damage(resnet18))


def test_unknown_layout_is_a_value_error() -> None:
    """Callers that validate input generically (CLI, API) catch ValueError."""
    assert issubclass(UnknownLayout, ValueError)
