from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from geopin.model.fp16 import to_fp16
from geopin.model.runtime import CPU
from geopin_tools.model.architecture import Backbone, seeded_state_dict
from geopin_tools.model.onnx_builder import build_cosplace_onnx
from onnx import TensorProto, helper, numpy_helper

from tests.unit.model.factories import trained_looking

HEAD_WEIGHTS = {
    "aggregation.1.p",
    "aggregation.3.weight",
    "aggregation.3.bias",
    "gem_eps",
    "normalise_eps",
}


@pytest.fixture(scope="module")
def fp32_model() -> onnx.ModelProto:
    weights = trained_looking(seeded_state_dict(Backbone.RESNET18, 32, seed=0), seed=1)
    return build_cosplace_onnx(weights, Backbone.RESNET18, 32, {"geopin.trained": "false"})


@pytest.fixture(scope="module")
def fp16_model(fp32_model: onnx.ModelProto) -> onnx.ModelProto:
    return to_fp16(fp32_model)


def _types(model: onnx.ModelProto) -> dict[str, int]:
    return {tensor.name: tensor.data_type for tensor in model.graph.initializer}


def test_backbone_weights_become_fp16_and_head_weights_stay_fp32(
    fp16_model: onnx.ModelProto,
) -> None:
    types = _types(fp16_model)
    assert {name for name, kind in types.items() if kind == TensorProto.FLOAT} == HEAD_WEIGHTS
    backbone = {name: kind for name, kind in types.items() if name not in HEAD_WEIGHTS}
    assert set(backbone.values()) == {TensorProto.FLOAT16}
    assert "backbone.0.weight" in backbone


def test_inputs_and_outputs_stay_fp32(fp16_model: onnx.ModelProto) -> None:
    (image,), (embedding,) = fp16_model.graph.input, fp16_model.graph.output
    assert image.type.tensor_type.elem_type == TensorProto.FLOAT
    assert embedding.type.tensor_type.elem_type == TensorProto.FLOAT
    onnx.checker.check_model(fp16_model, full_check=True)


def test_the_original_model_is_left_fp32(
    fp32_model: onnx.ModelProto, fp16_model: onnx.ModelProto
) -> None:
    assert set(_types(fp32_model).values()) == {TensorProto.FLOAT}


def test_identity_metadata_is_kept(
    fp32_model: onnx.ModelProto, fp16_model: onnx.ModelProto
) -> None:
    assert fp16_model.metadata_props == fp32_model.metadata_props


def test_fp16_embeddings_agree_with_fp32(
    fp32_model: onnx.ModelProto, fp16_model: onnx.ModelProto
) -> None:
    images = np.random.default_rng(0).normal(size=(2, 3, 64, 96)).astype(np.float32)
    embeddings = []
    for model in (fp32_model, fp16_model):
        session = ort.InferenceSession(model.SerializeToString(), providers=[CPU])
        (out,) = session.run(None, {"image": images})
        assert out.dtype == np.float32
        embeddings.append(out)
    assert np.min(np.sum(embeddings[0] * embeddings[1], axis=1)) > 0.999


def test_a_weight_beyond_fp16s_range_is_refused(fp32_model: onnx.ModelProto) -> None:
    model = onnx.ModelProto()
    model.CopyFrom(fp32_model)
    index = next(i for i, t in enumerate(model.graph.initializer) if t.name == "backbone.1.bias")
    huge = numpy_helper.to_array(model.graph.initializer[index]).copy()
    huge[0] = 1e6
    model.graph.initializer[index].CopyFrom(numpy_helper.from_array(huge, "backbone.1.bias"))
    with pytest.raises(ValueError, match=r"backbone\.1\.bias exceeds FP16"):
        to_fp16(model)


def test_a_graph_whose_output_bypasses_the_head_is_refused() -> None:
    graph = helper.make_graph(
        [helper.make_node("Relu", ["image"], ["features"])],
        "backbone-only",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, [1, 3, 8, 8])],
    )
    with pytest.raises(ValueError, match="bypass the head"):
        to_fp16(helper.make_model(graph))
