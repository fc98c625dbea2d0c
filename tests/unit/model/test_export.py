"""What an exported model records about itself, checked against what GeoPin actually does."""

from __future__ import annotations

import json
from importlib.metadata import PackageNotFoundError
from pathlib import Path

import numpy as np
import pytest
from geopin.images import to_model_input
from geopin_tools.model import export
from geopin_tools.model.architecture import Backbone, seeded_state_dict
from geopin_tools.model.export import CheckpointMismatch, export_checkpoint, preprocessing_json
from PIL import Image

from tests.support.pth_writer import save_state_dict_pth


def test_the_recorded_preprocessing_is_what_geopin_applies_to_photos() -> None:
    recorded = json.loads(preprocessing_json())
    assert (recorded["colour"], recorded["layout"]) == ("RGB", "NCHW float32")
    pixels = np.random.default_rng(0).integers(0, 256, (6, 5, 3), dtype=np.uint8)
    mean = np.array(recorded["mean"])[:, None, None]
    std = np.array(recorded["std"])[:, None, None]
    expected = (pixels.transpose(2, 0, 1) / 255.0 - mean) / std
    np.testing.assert_allclose(to_model_input(Image.fromarray(pixels)), expected, atol=1e-5)


def test_the_exporter_names_geopin_s_version_and_the_opset(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(export, "version", lambda name: "1.2.3")
    assert export.exporter_version() == "geopin 1.2.3, onnx opset 17"


def test_a_checkout_that_is_not_installed_says_its_version_is_unknown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def not_installed(name: str) -> str:
        raise PackageNotFoundError(name)

    monkeypatch.setattr(export, "version", not_installed)
    assert export.exporter_version() == "geopin unknown, onnx opset 17"


def test_export_returns_what_it_wrote(tmp_path: Path) -> None:
    checkpoint = tmp_path / "ResNet18_16_cosplace.pth"
    save_state_dict_pth(seeded_state_dict(Backbone.RESNET18, 16, seed=0), checkpoint)
    result = export_checkpoint(checkpoint, tmp_path / "m.onnx")
    assert (result.path, result.backbone, result.dim) == (tmp_path / "m.onnx", "ResNet18", 16)
    assert len(result.model_id) == len(result.checkpoint_sha256) == 64


def test_a_mismatch_is_a_value_error_naming_both_networks(tmp_path: Path) -> None:
    checkpoint = tmp_path / "w.pth"
    save_state_dict_pth(seeded_state_dict(Backbone.RESNET18, 16, seed=0), checkpoint)
    with pytest.raises(CheckpointMismatch, match=r"w\.pth is CosPlace ResNet18 D=16, not ResNet50"):
        export_checkpoint(checkpoint, tmp_path / "m.onnx", Backbone.RESNET50, 16)
    assert issubclass(CheckpointMismatch, ValueError)
    assert not (tmp_path / "m.onnx").exists()
