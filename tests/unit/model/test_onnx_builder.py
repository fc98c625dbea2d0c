"""The ONNX graph: unit embeddings at any size, parity with the numpy reference, identity."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnx
import onnxruntime as ort
import pytest
from geopin_tools.model.architecture import Backbone, StateDict, UnknownLayout, seeded_state_dict
from geopin_tools.model.onnx_builder import build_cosplace_onnx, model_identity, write_model
from geopin_tools.model.reference import reference_embed

from tests.unit.model.factories import trained_looking

DIM = 64


def _embed(model: onnx.ModelProto, images: npt.NDArray[np.float32]) -> npt.NDArray[Any]:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    (embeddings,) = session.run(["embedding"], {"image": images})
    return np.asarray(embeddings)


def _images(batch: int, height: int, width: int, seed: int = 0) -> npt.NDArray[np.float32]:
    return np.random.default_rng(seed).standard_normal((batch, 3, height, width), np.float32)


@pytest.fixture(scope="module")
def resnet18() -> StateDict:
    return trained_looking(seeded_state_dict(Backbone.RESNET18, DIM, seed=0), seed=1)


@pytest.fixture(scope="module")
def resnet18_model(resnet18: StateDict) -> onnx.ModelProto:
    return build_cosplace_onnx(resnet18, Backbone.RESNET18, DIM, {"source": "test"})


@pytest.mark.parametrize(("batch", "height", "width"), [(1, 64, 64), (3, 96, 128), (2, 160, 112)])
def test_embeddings_are_unit_vectors_at_any_input_size(
    resnet18_model: onnx.ModelProto, batch: int, height: int, width: int
) -> None:
    embeddings = _embed(resnet18_model, _images(batch, height, width))
    assert embeddings.shape == (batch, DIM)
    assert embeddings.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-5)


def test_batch_height_and_width_are_symbolic(resnet18_model: onnx.ModelProto) -> None:
    (image,) = resnet18_model.graph.input
    (embedding,) = resnet18_model.graph.output
    image_dims = [d.dim_param or d.dim_value for d in image.type.tensor_type.shape.dim]
    output_dims = [d.dim_param or d.dim_value for d in embedding.type.tensor_type.shape.dim]
    assert (image.name, image_dims) == ("image", ["batch", 3, "height", "width"])
    assert (embedding.name, output_dims) == ("embedding", ["batch", DIM])
    assert resnet18_model.opset_import[0].version == 17


@pytest.mark.parametrize(
    ("backbone", "height", "width"), [(Backbone.RESNET18, 96, 128), (Backbone.RESNET50, 64, 80)]
)
def test_onnx_graph_matches_the_numpy_reference(
    backbone: Backbone, height: int, width: int
) -> None:
    weights = trained_looking(seeded_state_dict(backbone, DIM, seed=2), seed=3)
    images = _images(3, height, width, seed=4)
    from_onnx = _embed(build_cosplace_onnx(weights, backbone, DIM, {}), images)
    expected = reference_embed(weights, images)
    assert np.all(np.sum(from_onnx * expected, axis=1) >= 0.99999)
    # Random networks map all inputs close together, so cosine alone is a weak bar: the graph
    # must also be far closer to the reference than different images are to each other.
    error = np.linalg.norm(from_onnx - expected, axis=1).max()
    spread = min(
        np.linalg.norm(expected[i] - expected[j]) for i in range(3) for j in range(i + 1, 3)
    )
    assert error < 1e-3 * spread


def test_metadata_records_backbone_dim_and_weights_identity(
    resnet18: StateDict, resnet18_model: onnx.ModelProto
) -> None:
    metadata = {prop.key: prop.value for prop in resnet18_model.metadata_props}
    assert metadata == {
        "source": "test",
        "geopin.backbone": "ResNet18",
        "geopin.dim": str(DIM),
        "geopin.model_id": model_identity(resnet18),
    }


def test_builder_owned_metadata_cannot_be_overridden(resnet18: StateDict) -> None:
    with pytest.raises(ValueError, match=r"geopin\.model_id"):
        build_cosplace_onnx(resnet18, Backbone.RESNET18, DIM, {"geopin.model_id": "forged"})


@pytest.mark.parametrize(("backbone", "dim"), [(Backbone.RESNET34, DIM), (Backbone.RESNET18, 32)])
def test_mislabelled_weights_are_refused(resnet18: StateDict, backbone: Backbone, dim: int) -> None:
    with pytest.raises(UnknownLayout, match="weights are CosPlace ResNet18 D=64"):
        build_cosplace_onnx(resnet18, backbone, dim, {})


def test_model_identity_is_stable_and_changes_with_any_weight(resnet18: StateDict) -> None:
    identity = model_identity(resnet18)
    assert model_identity(resnet18) == identity
    assert model_identity({k: v.copy() for k, v in reversed(resnet18.items())}) == identity
    assert model_identity({f"module.{k}": v for k, v in resnet18.items()}) == identity
    nudged = resnet18["backbone.6.1.conv2.weight"].copy()
    nudged[0, 0, 0, 0] += np.float32(1e-6)
    assert model_identity({**resnet18, "backbone.6.1.conv2.weight": nudged}) != identity
    as_double = resnet18["aggregation.3.bias"].astype(np.float64)
    assert model_identity({**resnet18, "aggregation.3.bias": as_double}) != identity


def test_write_model_leaves_only_the_finished_file(
    resnet18_model: onnx.ModelProto, tmp_path: Path
) -> None:
    target = tmp_path / "model.onnx"
    target.write_bytes(b"an older model")
    write_model(resnet18_model, target)
    assert [p.name for p in tmp_path.iterdir()] == ["model.onnx"]
    assert onnx.load(target) == resnet18_model
