"""Counting a model's multiply-accumulates, checked against torchvision's published figures."""

from __future__ import annotations

from pathlib import Path

import pytest
from geopin_tools.model.architecture import Backbone, seeded_state_dict
from geopin_tools.model.cost import macs_per_image
from geopin_tools.model.onnx_builder import build_cosplace_onnx


@pytest.mark.parametrize(
    ("backbone", "published_gmacs"),
    [
        # torchvision's model table ("GFLOPS", which are multiply-accumulates) at 224x224; a
        # D=1000 Linear stands in for the classifier of ResNet-18. VGG16's classifier (0.12
        # GMACs) is not part of CosPlace, so it is taken off its published 15.47.
        (Backbone.RESNET18, 1.81),
        (Backbone.VGG16, 15.47 - 0.12),
    ],
)
def test_macs_match_torchvision_s_published_counts(
    backbone: Backbone, published_gmacs: float
) -> None:
    model = build_cosplace_onnx(seeded_state_dict(backbone, 1000, seed=0), backbone, 1000, {})
    assert macs_per_image(model, 224, 224) / 1e9 == pytest.approx(published_gmacs, rel=5e-3)


def test_macs_grow_with_the_pixel_count() -> None:
    model = build_cosplace_onnx(
        seeded_state_dict(Backbone.RESNET18, 8, 0), Backbone.RESNET18, 8, {}
    )
    assert macs_per_image(model, 448, 448) / macs_per_image(model, 224, 224) == pytest.approx(
        4.0, rel=1e-4
    )


@pytest.mark.parametrize(
    ("backbone", "row"), [(Backbone.RESNET18, "ResNet-18"), (Backbone.VGG16, "VGG16")]
)
def test_the_compute_table_in_the_docs_is_what_the_counter_says(
    backbone: Backbone, row: str
) -> None:
    doc = (Path(__file__).resolve().parents[3] / "docs" / "models.md").read_text()
    (line,) = [line for line in doc.splitlines() if line.startswith(f"| {row} |")]
    cells = [cell.strip(" *") for cell in line.strip("|").split("|")]
    model = build_cosplace_onnx(seeded_state_dict(backbone, 512, seed=0), backbone, 512, {})
    sizes = {3: (224, 224), 4: (512, 512), 6: (480, 640), 7: (512, 683)}
    for column, (height, width) in sizes.items():
        assert float(cells[column]) == round(macs_per_image(model, height, width) / 1e9, 2)
    assert float(cells[5]) == round(2 * macs_per_image(model, 512, 512) / 1e9, 1)
