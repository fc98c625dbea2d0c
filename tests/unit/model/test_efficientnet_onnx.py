"""The default model's graph: EfficientNet-Lite0 and CosPlace's head, checked against numpy."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import onnxruntime as ort
import pytest
from geopin_tools.model.architecture import StateDict, UnknownLayout
from geopin_tools.model.checkpoint import load_checkpoint
from geopin_tools.model.default_model import package_weights
from geopin_tools.model.efficientnet import lite0_blocks
from geopin_tools.model.efficientnet_onnx import build_lite0_onnx, lite0_identity

from tests.support.efficientnet_reference import lite0_reference_embed


@pytest.fixture(scope="module")
def weights() -> StateDict:
    return load_checkpoint(package_weights()).state_dict


@pytest.fixture(scope="module")
def session(weights: StateDict) -> ort.InferenceSession:
    model = build_lite0_onnx(weights, {"source": "test"})
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def _embed(session: ort.InferenceSession, images: npt.NDArray[np.float32]) -> npt.NDArray[Any]:
    (embeddings,) = session.run(["embedding"], {"image": images})
    return np.asarray(embeddings)


@pytest.mark.parametrize(
    ("height", "width"),
    [(64, 64), (67, 45), (33, 97), (96, 128)],  # odd sizes pad one more pixel after than before
)
def test_onnx_graph_matches_the_numpy_reference(
    session: ort.InferenceSession, weights: StateDict, height: int, width: int
) -> None:
    rng = np.random.default_rng(height * width)
    images = rng.standard_normal((3, 3, height, width), dtype=np.float32)
    from_onnx = _embed(session, images)
    expected = lite0_reference_embed(weights, images)
    assert from_onnx.shape == (3, 1280)
    np.testing.assert_allclose(np.linalg.norm(from_onnx, axis=1), 1.0, atol=1e-5)
    assert np.all(np.sum(from_onnx * expected, axis=1) >= 0.99999)
    error = np.linalg.norm(from_onnx - expected, axis=1).max()
    spread = min(
        np.linalg.norm(expected[i] - expected[j]) for i in range(3) for j in range(i + 1, 3)
    )
    assert error < 1e-3 * spread  # far closer to the reference than images are to each other


def test_batch_height_and_width_stay_dynamic(weights: StateDict) -> None:
    model = build_lite0_onnx(weights, {})
    (image,) = model.graph.input
    (embedding,) = model.graph.output
    assert [d.dim_param or d.dim_value for d in image.type.tensor_type.shape.dim] == [
        "batch",
        3,
        "height",
        "width",
    ]
    assert [d.dim_param or d.dim_value for d in embedding.type.tensor_type.shape.dim] == [
        "batch",
        1280,
    ]


def test_the_block_table_strides_four_times_after_the_stem() -> None:
    blocks = lite0_blocks()
    assert len(blocks) == 16
    assert [b.index for b in blocks if b.stride == 2] == [1, 3, 5, 11]
    assert [b.index for b in blocks if not b.has_expansion] == [0]
    assert blocks[-1].out_channels == 320


def test_weights_of_another_network_are_refused(weights: StateDict) -> None:
    without_head = {k: v for k, v in weights.items() if not k.startswith("_conv_head")}
    with pytest.raises(UnknownLayout, match=r"missing keys: _conv_head\.weight"):
        build_lite0_onnx(without_head, {})
    wrong = {**weights, "_blocks.3._depthwise_conv.weight": np.zeros((144, 1, 3, 3), np.float32)}
    with pytest.raises(
        UnknownLayout, match=r"_blocks\.3\._depthwise_conv\.weight \[144, 1, 3, 3\]"
    ):
        build_lite0_onnx(wrong, {})


def test_metadata_records_backbone_dim_and_identity(weights: StateDict) -> None:
    model = build_lite0_onnx(weights, {"source": "test"})
    metadata = {prop.key: prop.value for prop in model.metadata_props}
    assert metadata == {
        "source": "test",
        "geopin.backbone": "EfficientNet-Lite0",
        "geopin.dim": "1280",
        "geopin.model_id": lite0_identity(weights),
    }
    with pytest.raises(ValueError, match=r"geopin\.model_id"):
        build_lite0_onnx(weights, {"geopin.model_id": "forged"})


def test_identity_changes_with_any_weight(weights: StateDict) -> None:
    nudged = weights["_bn1.running_var"].copy()
    nudged[0] += np.float32(1e-3)
    assert lite0_identity({**weights, "_bn1.running_var": nudged}) != lite0_identity(weights)
    assert lite0_identity(dict(reversed(weights.items()))) == lite0_identity(weights)
