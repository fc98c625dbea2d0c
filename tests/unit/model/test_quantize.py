from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import pytest
from click.testing import CliRunner, Result
from geopin.cli import main
from geopin.images import preprocess
from geopin.model.session import OnnxSession
from geopin.settings import ImageSettings, ModelSettings
from geopin_tools.model.architecture import Backbone
from geopin_tools.model.calibration import calibration_inputs
from geopin_tools.model.default_model import ensure_default_model
from geopin_tools.model.int8_check import Int8Check, Targets, side_by_side
from geopin_tools.model.quantize import FLOAT_LEADING_CONVS, quantize_int8
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


def test_the_default_models_relu6_folds_into_int8_and_its_first_convolutions_stay_fp32(
    tmp_path: Path,
) -> None:
    int8_path = tmp_path / "default-int8.onnx"
    model = ensure_default_model(tmp_path / "cache")
    result = quantize_int8(model, int8_path, calibration_inputs(None, SMALL, 2))
    graph = onnx.load(int8_path).graph
    producers = {output: node.op_type for node in graph.node for output in node.output}
    convs = [node for node in graph.node if node.op_type == "Conv"]
    fed_int8 = [producers.get(conv.input[1]) == "DequantizeLinear" for conv in convs]
    assert result.float_convs == FLOAT_LEADING_CONVS["EfficientNet-Lite0"] == 6
    assert fed_int8 == [False] * 6 + [True] * (len(convs) - 6)
    clips = sum(node.op_type == "Clip" for node in graph.node)
    assert clips <= 6  # of 33: every int8 conv's ReLU6 is its output range, not a node
    assert (
        "first 6 convolutions and the head in FP32" in _metadata(int8_path)["geopin.quantization"]
    )


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


@pytest.fixture
def small_images(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEOPIN_IMAGES__SHORTER_SIDE", "64")
    monkeypatch.setenv("GEOPIN_IMAGES__MAX_SIDE", "128")


def _quantize(fp32_path: Path, output: Path, *options: str) -> Result:
    command = ["model", "quantize", str(fp32_path), "-o", str(output), "--count", "2"]
    return CliRunner().invoke(main, [*command, "--check", "12", *options])


ONLY_SPEED = ("--min-overlap", "0", "--min-cosine", "-1")  # so the outcome rests on speed alone
FIGURE_LINES = (
    r"speed-up over FP32: \d+\.\d\dx \(median \d+ ms FP32, \d+ ms int8 per photo\)\n",
    r"top-10 overlap with FP32: [01]\.\d{3}\n",
    r"cosine with FP32: median -?[01]\.\d{4}, min -?[01]\.\d{4}\n",
)


@pytest.mark.usefixtures("small_images")
def test_quantize_command_writes_an_int8_model_that_meets_the_targets_and_says_to_reindex(
    fp32_path: Path, tmp_path: Path
) -> None:
    output = tmp_path / "int8.onnx"
    result = _quantize(fp32_path, output, *ONLY_SPEED, "--min-speedup", "0")
    assert result.exit_code == 0, result.output
    assert "calibrating on 2 photo(s) from generated photos" in result.output
    assert "checking against FP32 on the next 12 photo(s)" in result.output
    for line in FIGURE_LINES:
        assert re.search(line, result.output), line
    assert "re-index the references" in result.output
    assert _metadata(output)["geopin.precision"] == "int8"
    again = _quantize(fp32_path, output, *ONLY_SPEED, "--min-speedup", "0")
    assert again.exit_code == 1
    assert "pass --force" in again.output


@pytest.mark.usefixtures("small_images")
def test_quantize_command_refuses_a_model_that_misses_a_target_with_its_figures(
    fp32_path: Path, tmp_path: Path
) -> None:
    output = tmp_path / "int8.onnx"
    output.write_bytes(b"the model served now")
    result = _quantize(fp32_path, output, "--force", *ONLY_SPEED, "--min-speedup", "1000")
    assert result.exit_code == 1, result.output
    for line in FIGURE_LINES:
        assert re.search(line, result.output), line
    last = result.output.strip().splitlines()[-1]
    assert re.fullmatch(
        r"Error: int8 does not pay for this model \(speed-up \d+\.\d\dx < 1000x\); "
        r"nothing written \(--accept-worse writes it anyway\)",
        last,
    )
    assert output.read_bytes() == b"the model served now"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["int8.onnx"]


@pytest.mark.usefixtures("small_images")
def test_quantize_command_writes_a_model_below_target_only_when_told_and_says_so(
    fp32_path: Path, tmp_path: Path
) -> None:
    output = tmp_path / "int8.onnx"
    result = _quantize(fp32_path, output, "--min-speedup", "1000", "--accept-worse")
    assert result.exit_code == 0, result.output
    assert re.search(r"written although it misses the targets: speed-up .* < 1000x", result.output)
    assert _metadata(output)["geopin.precision"] == "int8"


def test_quantize_command_needs_photos_to_check_on_besides_the_calibration_ones(
    fp32_path: Path, tmp_path: Path
) -> None:
    for seed in range(5):
        (tmp_path / f"{seed}.png").write_bytes(encode(place_photo(seed, (96, 64)), "PNG"))
    output = tmp_path / "int8.onnx"
    command = ["model", "quantize", str(fp32_path), "-o", str(output), "--count", "2"]
    result = CliRunner().invoke(main, [*command, "--calibration", str(tmp_path)])
    assert result.exit_code == 1
    assert f"needs 12 photos besides the 2 to calibrate on; {tmp_path} gave 3" in result.output
    assert not output.exists()


def test_the_check_names_each_missed_target_with_its_figure() -> None:
    check = Int8Check(
        photos=32,
        speedup=1.2,
        fp32_ms=60.0,
        int8_ms=50.0,
        top_10_overlap=0.8,
        cosine_median=0.98,
        cosine_min=0.9,
    )
    assert check.shortfalls(Targets()) == [
        "speed-up 1.20x < 1.5x",
        "top-10 overlap 0.800 < 0.95",
        "worst cosine 0.9000 < 0.97",
    ]
    assert check.shortfalls(Targets(speedup=1.2, top_10_overlap=0.8, cosine_min=0.9)) == []


def test_side_by_side_calls_the_models_in_turn_swapping_who_goes_first() -> None:
    calls: list[str] = []

    def model(name: str, scale: float) -> Callable[[np.ndarray], np.ndarray]:
        def run(batch: np.ndarray) -> np.ndarray:
            calls.append(name)
            return batch.reshape(len(batch), -1) * scale

        return run

    inputs = [np.full((1, 2, 2), value, np.float32) for value in (1.0, 2.0, 3.0)]
    measured = side_by_side(model("fp32", 1.0), model("int8", 2.0), iter(inputs))
    warm_up = ["fp32", "int8"]
    assert calls == [*warm_up, "fp32", "int8", "int8", "fp32", "fp32", "int8"]
    np.testing.assert_array_equal(measured.fp32[:, 0], [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(measured.int8[:, 0], [2.0, 4.0, 6.0])
    assert len(measured.fp32_seconds) == len(measured.int8_seconds) == 3
