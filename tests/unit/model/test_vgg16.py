"""VGG16, CosPlace's other backbone family: its keys, inference from them, and parity."""

from __future__ import annotations

import re

import numpy as np
import onnxruntime as ort
import pytest
from geopin_tools.model.architecture import (
    Backbone,
    UnknownLayout,
    backbone_channels,
    expected_shapes,
    infer_architecture,
    seeded_state_dict,
    vgg16_convs,
)
from geopin_tools.model.onnx_builder import build_cosplace_onnx
from geopin_tools.model.reference import reference_embed

from tests.unit.model.factories import trained_looking


def test_vgg16_convs_sit_at_torchvision_features_indices() -> None:
    convs = vgg16_convs()
    assert [conv.module for conv in convs] == [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]
    assert [conv.module for conv in convs if conv.max_pool] == [2, 7, 14, 21]
    # features[:-2] drops the ReLU (29) and max pool (30) after the last conv
    assert [conv.module for conv in convs if not conv.relu] == [28]
    assert backbone_channels(Backbone.VGG16) == 512


def test_vgg16_state_dict_has_conv_weights_and_biases_only() -> None:
    shapes = expected_shapes(Backbone.VGG16, 256)
    assert shapes["backbone.0.weight"] == (64, 3, 3, 3)
    assert shapes["backbone.0.bias"] == (64,)
    assert shapes["backbone.5.weight"] == (128, 64, 3, 3)
    assert shapes["backbone.28.weight"] == (512, 512, 3, 3)
    assert shapes["aggregation.3.weight"] == (256, 512)
    assert len(shapes) == 13 * 2 + 3


@pytest.mark.parametrize("dim", [64, 512])
def test_vgg16_and_its_dim_are_inferred_from_the_keys(dim: int) -> None:
    assert infer_architecture(seeded_state_dict(Backbone.VGG16, dim, seed=0)) == (
        Backbone.VGG16,
        dim,
    )


def test_a_vgg16_without_its_last_conv_is_an_unknown_layout() -> None:
    weights = seeded_state_dict(Backbone.VGG16, 64, seed=0)
    del weights["backbone.28.weight"], weights["backbone.28.bias"]
    with pytest.raises(
        UnknownLayout, match=re.escape("missing keys: backbone.28.weight, backbone.28.bias")
    ):
        infer_architecture(weights)


def test_vgg16_onnx_graph_matches_the_numpy_reference() -> None:
    weights = trained_looking(seeded_state_dict(Backbone.VGG16, 32, seed=0), seed=1)
    images = np.random.default_rng(2).standard_normal((3, 3, 48, 40), dtype=np.float32)
    model = build_cosplace_onnx(weights, Backbone.VGG16, 32, {})
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    (from_onnx,) = session.run(None, {"image": images})
    expected = reference_embed(weights, images)
    assert np.all(np.sum(from_onnx * expected, axis=1) >= 0.99999)
    error = np.linalg.norm(from_onnx - expected, axis=1).max()
    spread = min(
        np.linalg.norm(expected[i] - expected[j]) for i in range(3) for j in range(i + 1, 3)
    )
    assert error < 1e-3 * spread
