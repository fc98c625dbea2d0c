"""``geopin model export`` and ``verify`` end to end, on checkpoints in the official layout.

This is CI's "export and verify on every run": seeded weights written as torch.save writes the
published CosPlace files, converted by the CLI, then checked against the numpy reference.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import pytest
from click.testing import CliRunner, Result
from geopin.cli import main
from geopin_tools.model.architecture import Backbone, StateDict, seeded_state_dict
from geopin_tools.model.onnx_builder import model_identity

from tests.support.pth_writer import save_state_dict_pth
from tests.unit.model.factories import pickle_calling, trained_looking, write_checkpoint


def _geopin(*args: str | Path) -> Result:
    return CliRunner().invoke(main, [str(arg) for arg in args])


@dataclass(frozen=True)
class Exported:
    checkpoint: Path
    model: Path
    weights: StateDict


def _official_checkpoint(folder: Path, backbone: Backbone, dim: int, seed: int = 0) -> Exported:
    weights = trained_looking(seeded_state_dict(backbone, dim, seed), seed + 1)
    checkpoint = folder / f"{backbone}_{dim}_cosplace.pth"  # the release's file names
    save_state_dict_pth(weights, checkpoint)
    return Exported(checkpoint, folder / f"{backbone}_{dim}.onnx", weights)


@pytest.fixture(scope="module")
def resnet18(tmp_path_factory: pytest.TempPathFactory) -> Exported:
    files = _official_checkpoint(tmp_path_factory.mktemp("resnet18"), Backbone.RESNET18, 32)
    assert _geopin("model", "export", files.checkpoint, "-o", files.model).exit_code == 0
    return files


@pytest.mark.parametrize(
    ("backbone", "dim", "sizes"),
    [
        (Backbone.RESNET18, 32, "64x64,96x128,128x96"),  # verify's default sizes
        (Backbone.RESNET50, 16, "32x32,32x64,64x32"),
        (Backbone.VGG16, 16, "32x32,32x48,48x32"),
    ],
)
def test_official_layout_checkpoints_export_and_verify(
    tmp_path: Path, backbone: Backbone, dim: int, sizes: str
) -> None:
    files = _official_checkpoint(tmp_path, backbone, dim)
    exported = _geopin("model", "export", files.checkpoint, "-o", files.model)
    assert exported.exit_code == 0, exported.output
    assert f"CosPlace {backbone} D={dim}" in exported.output
    verified = _geopin("model", "verify", files.model, files.checkpoint, "--sizes", sizes)
    assert verified.exit_code == 0, verified.output
    lines = verified.output.splitlines()
    assert lines[0] == (
        f"model {model_identity(files.weights)[:12]} holds the weights of {files.checkpoint.name}"
    )
    assert lines[1] == "reference: numpy (float64, geopin_tools.model.reference)"
    per_size = [
        re.fullmatch(r"  (\w+), batch 2: worst cosine ([.\d]+) \(.*\)", line) for line in lines[2:5]
    ]
    assert [match.group(1) for match in per_size if match] == sizes.split(",")
    assert min(float(match.group(2)) for match in per_size if match) >= 0.99999
    assert lines[5].startswith("parity OK: worst cosine ")


def test_the_exported_model_carries_its_identity(resnet18: Exported) -> None:
    metadata = {prop.key: prop.value for prop in onnx.load(resnet18.model).metadata_props}
    preprocessing = json.loads(metadata.pop("geopin.preprocessing"))
    exporter = metadata.pop("geopin.exporter")
    assert metadata == {
        "geopin.backbone": "ResNet18",
        "geopin.dim": "32",
        "geopin.model_id": model_identity(resnet18.weights),
        "geopin.checkpoint_sha256": hashlib.sha256(resnet18.checkpoint.read_bytes()).hexdigest(),
        "geopin.trained": "true",
        "geopin.kind": "cosplace",
        "geopin.description": "CosPlace ResNet18 D=32 from ResNet18_32_cosplace.pth",
    }
    assert preprocessing["mean"] == [0.485, 0.456, 0.406]
    assert preprocessing["std"] == [0.229, 0.224, 0.225]
    assert exporter.startswith("geopin ")
    assert exporter.endswith(", onnx opset 17")


def test_the_model_keeps_batch_height_and_width_dynamic(resnet18: Exported) -> None:
    (image,) = onnx.load(resnet18.model).graph.input
    dims = [d.dim_param or d.dim_value for d in image.type.tensor_type.shape.dim]
    assert dims == ["batch", 3, "height", "width"]


@pytest.mark.parametrize(
    ("options", "asked"),
    [
        (["--backbone", "ResNet50"], "ResNet50"),
        (["--dim", "64"], "D=64"),
        (["--backbone", "vgg16", "--dim", "512"], "VGG16 D=512"),
    ],
)
def test_a_backbone_or_dim_the_weights_contradict_is_refused_in_one_line(
    resnet18: Exported, tmp_path: Path, options: list[str], asked: str
) -> None:
    output = tmp_path / "model.onnx"
    result = _geopin("model", "export", resnet18.checkpoint, "-o", output, *options)
    assert result.exit_code == 1
    assert result.output == (
        f"Error: ResNet18_32_cosplace.pth is CosPlace ResNet18 D=32, not {asked}\n"
    )
    assert not output.exists()


def test_stating_the_right_backbone_and_dim_is_accepted(resnet18: Exported, tmp_path: Path) -> None:
    output = tmp_path / "model.onnx"
    options = ["--backbone", "resnet18", "--dim", "32"]
    assert _geopin("model", "export", resnet18.checkpoint, "-o", output, *options).exit_code == 0
    assert output.exists()


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        pytest.param(
            {**seeded_state_dict(Backbone.RESNET18, 8, 0), "fc.weight": np.zeros((2, 2))},
            "w.pth: state_dict does not match CosPlace ResNet18 D=8: unexpected keys: fc.weight",
            id="classifier left in",
        ),
        pytest.param(
            {"encoder.weight": np.zeros((2, 2), np.float32)},
            "w.pth: not a CosPlace state_dict: key 'backbone.0.weight' is missing",
            id="another network",
        ),
    ],
)
def test_an_unknown_layout_is_refused_in_one_line(
    tmp_path: Path, weights: StateDict, message: str
) -> None:
    save_state_dict_pth(weights, tmp_path / "w.pth")
    result = _geopin("model", "export", tmp_path / "w.pth", "-o", tmp_path / "m.onnx")
    assert (result.exit_code, result.output) == (1, f"Error: {message}\n")


def test_an_unsafe_checkpoint_is_refused_and_not_run(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    checkpoint = write_checkpoint(
        tmp_path / "evil.pth", pickle_calling("os", "system", f"touch {marker}")
    )
    result = _geopin("model", "export", checkpoint, "-o", tmp_path / "m.onnx")
    assert result.exit_code == 1
    assert result.output.startswith("Error: refusing to load: the checkpoint's pickle names os.")
    assert result.output.count("\n") == 1
    assert not marker.exists()


def test_an_unknown_backbone_name_is_refused(resnet18: Exported, tmp_path: Path) -> None:
    args = ("model", "export", resnet18.checkpoint, "-o", tmp_path / "m.onnx")
    result = _geopin(*args, "--backbone", "ResNet9")
    assert result.exit_code == 1
    assert "unknown backbone 'ResNet9'; choose one of ResNet18, ResNet34" in result.output


def test_export_refuses_to_overwrite_without_force(resnet18: Exported, tmp_path: Path) -> None:
    existing = tmp_path / "model.onnx"
    existing.write_bytes(b"keep me")
    result = _geopin("model", "export", resnet18.checkpoint, "-o", existing)
    assert result.exit_code == 1
    assert "pass --force to overwrite it" in result.output
    assert existing.read_bytes() == b"keep me"


def test_verify_fails_when_the_graph_does_not_compute_the_weights(
    resnet18: Exported, tmp_path: Path
) -> None:
    """An exporter bug leaves the recorded identity right and the arithmetic wrong."""
    model = onnx.load(resnet18.model)
    (gem_p,) = [t for t in model.graph.initializer if t.name == "aggregation.1.p"]
    gem_p.CopyFrom(onnx.numpy_helper.from_array(np.array([2.0], np.float32), gem_p.name))
    broken = tmp_path / "broken.onnx"
    onnx.save(model, broken)
    result = _geopin("model", "verify", broken, resnet18.checkpoint, "--sizes", "32x32,32x64,64x32")
    assert result.exit_code == 1
    assert result.output.splitlines()[-1].startswith("Error: parity FAILED: worst cosine 0.")


def test_verify_refuses_a_model_exported_from_other_weights(
    resnet18: Exported, tmp_path: Path
) -> None:
    other = _official_checkpoint(tmp_path, Backbone.RESNET18, 32, seed=7)
    result = _geopin("model", "verify", resnet18.model, other.checkpoint)
    expected = model_identity(other.weights)[:12]
    assert result.exit_code == 1
    assert result.output == (
        f"Error: ResNet18_32.onnx records model id {model_identity(resnet18.weights)[:12]}, "
        f"but the weights in ResNet18_32_cosplace.pth are {expected}: it was not exported "
        "from them\n"
    )


def test_verify_notes_a_different_file_holding_the_same_weights(
    resnet18: Exported, tmp_path: Path
) -> None:
    wrapped = tmp_path / "last_checkpoint.pth"
    save_state_dict_pth(resnet18.weights, wrapped, wrapper_key="model_state_dict")
    result = _geopin("model", "verify", resnet18.model, wrapped, "--sizes", "32x32,32x64,64x32")
    assert result.exit_code == 0, result.output
    assert "note: it was exported from another file with the same weights" in result.output


@pytest.mark.parametrize(
    ("sizes", "message"),
    [
        ("64x64,96x128", "give at least three different sizes"),
        ("64x64,64x64,64x64", "give at least three different sizes"),
        ("64x64,96x128,16x16", "16x16 is under 32 pixels"),
        ("64x64,96,128x96", "'96' is not HEIGHTxWIDTH"),
    ],
)
def test_verify_needs_three_real_input_sizes(resnet18: Exported, sizes: str, message: str) -> None:
    result = _geopin("model", "verify", resnet18.model, resnet18.checkpoint, "--sizes", sizes)
    assert result.exit_code == 2
    assert message in result.output
