"""How GeoPin words each kind of model, including what workers older than kinds announce."""

from __future__ import annotations

import pytest
from geopin.model.kinds import ModelKind, kind_announced, kind_of


@pytest.mark.parametrize(
    ("metadata", "kind"),
    [
        (
            {"geopin.kind": "imagenet-offtheshelf", "geopin.trained": "false"},
            "imagenet-offtheshelf",
        ),
        ({"geopin.trained": "false"}, "untrained"),  # a seeded model from before geopin.kind
        ({"geopin.trained": "true"}, "cosplace"),  # an export from before geopin.kind
        ({}, "cosplace"),  # a CosPlace ONNX file GeoPin did not write
    ],
)
def test_the_kind_comes_from_the_metadata_or_from_trained(
    metadata: dict[str, str], kind: str
) -> None:
    assert kind_of(metadata) == ModelKind(kind)


def test_readiness_warns_about_every_kind_but_cosplace_weights() -> None:
    offtheshelf = kind_announced({"kind": "imagenet-offtheshelf", "trained": False}).warning
    assert offtheshelf is not None
    assert "ImageNet off-the-shelf model, not CosPlace-trained" in offtheshelf
    untrained = kind_announced({"trained": False}).warning  # a worker from before kinds
    assert untrained is not None
    assert "results are meaningless" in untrained
    assert kind_announced({"kind": "cosplace", "trained": True}).warning is None
