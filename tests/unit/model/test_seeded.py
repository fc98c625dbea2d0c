"""The seeded model file says what it is: untrained."""

from __future__ import annotations

from pathlib import Path

import onnx
from geopin_tools.model.seeded import write_seeded_model


def test_seeded_model_is_labelled_untrained(tmp_path: Path) -> None:
    path = tmp_path / "seeded.onnx"
    model_id = write_seeded_model(path)
    metadata = {prop.key: prop.value for prop in onnx.load(path).metadata_props}
    assert metadata["geopin.trained"] == "false"
    assert metadata["geopin.kind"] == "untrained"
    assert metadata["geopin.description"] == (
        "seeded untrained CosPlace-architecture network (ResNet18, D=512, seed 0): "
        "for tests and a first run only; it does not recognise places"
    )
    assert metadata["geopin.backbone"] == "ResNet18"
    assert metadata["geopin.dim"] == "512"
    assert metadata["geopin.model_id"] == model_id
