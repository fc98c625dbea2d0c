from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from click.testing import CliRunner
from geopin.cli import main
from geopin.images import preprocess
from geopin.model.session import OnnxSession
from geopin.settings import ImageSettings, ModelSettings
from geopin_tools.model.architecture import Backbone
from geopin_tools.model.calibration import calibration_inputs
from geopin_tools.model.quantize import quantize_int8
from geopin_tools.model.seeded import write_seeded_model

from tests.support.factories import encode, place_photo

SMALL = ImageSettings(shorter_side=64, max_side=128)


@pytest.fixture(scope="module")
def fp32_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("model") / "fp32.onnx"
    write_seeded_model(path, Backbone.RESNET18, 32)
    return path


@pytest.fixture(scope="module")
def int8_path(fp32_path: Path) -> Path:
    path = fp32_path.with_name("int8.onnx")
    quantize_int8(fp32_path, path, calibration_inputs(None, SMALL, 3))
    return path


def _metadata(path: Path) -> dict[str, str]:
    return {prop.key: prop.value for prop in onnx.load(path).metadata_props}


def test_int8_model_runs_its_convolutions_in_int8(int8_path: Path) -> None:
    graph = onnx.load(int8_path).graph
    types = {tensor.name: tensor.data_type for tensor in graph.initializer}
    producers = {output: node for node in graph.node for output in node.output}
    convs = [node for node in graph.node if node.op_type == "Conv"]
    for conv in convs:
        image, weights = (producers[name] for name in conv.input[:2])
        assert image.op_type == weights.op_type == "DequantizeLinear"
        assert types[weights.input[0]] == onnx.TensorProto.INT8
    assert len(convs) == 20
    assert not any(node.op_type == "BatchNormalization" for node in graph.node)  # folded


def test_int8_model_is_a_new_model_that_names_its_parent(fp32_path: Path, int8_path: Path) -> None:
    parent, child = _metadata(fp32_path), _metadata(int8_path)
    assert child["geopin.parent_model_id"] == parent["geopin.model_id"]
    assert child["geopin.model_id"] not in (parent["geopin.model_id"], "unknown")
    assert child["geopin.precision"] == "int8"
    assert "3 calibration photos" in child["geopin.quantization"]
    assert child["geopin.backbone"] == parent["geopin.backbone"]
    assert child["geopin.trained"] == "false"


def test_int8_embeddings_agree_with_fp32(fp32_path: Path, int8_path: Path) -> None:
    images = np.stack([calibration_inputs(None, SMALL, 1)[0]] * 2)
    fp32 = OnnxSession(ModelSettings(path=fp32_path)).run(images)
    int8_session = OnnxSession(ModelSettings(path=int8_path))
    assert int8_session.precision == "int8"
    assert np.min(np.sum(fp32 * int8_session.run(images), axis=1)) > 0.99


def test_calibration_reads_a_folders_photos_in_name_order_as_the_worker_would(
    tmp_path: Path,
) -> None:
    photos = {name: encode(place_photo(seed, (200, 100)), "PNG") for seed, name in enumerate("bac")}
    for name, data in photos.items():
        (tmp_path / f"{name}.png").write_bytes(data)
    (tmp_path / "notes.txt").write_text("not a photo")
    inputs = calibration_inputs(tmp_path, SMALL, count=2)
    expected = [preprocess(photos[name], SMALL) for name in "ab"]
    assert len(inputs) == 2
    for got, wanted in zip(inputs, expected, strict=True):
        np.testing.assert_array_equal(got, wanted)


def test_calibration_names_a_photo_the_worker_would_reject(tmp_path: Path) -> None:
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    with pytest.raises(ValueError, match=r"calibration photo broken\.jpg"):
        calibration_inputs(tmp_path, SMALL, 4)


def test_calibration_refuses_a_folder_without_photos(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no photos"):
        calibration_inputs(tmp_path, SMALL, 4)


def test_quantize_command_writes_the_int8_model_and_says_to_reindex(
    fp32_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GEOPIN_IMAGES__SHORTER_SIDE", "64")
    monkeypatch.setenv("GEOPIN_IMAGES__MAX_SIDE", "128")
    output = tmp_path / "int8.onnx"
    command = ["model", "quantize", str(fp32_path), "-o", str(output), "--count", "2"]
    result = CliRunner().invoke(main, command)
    assert result.exit_code == 0, result.output
    assert "calibrating on 2 photo(s) from generated photos" in result.output
    assert "re-index the references" in result.output
    assert _metadata(output)["geopin.precision"] == "int8"
    again = CliRunner().invoke(main, command)
    assert again.exit_code == 1
    assert "pass --force" in again.output
