"""What kind of network a model file holds, and how GeoPin says so to the people running it.

Three kinds of model reach the workers: exported CosPlace weights, the default model (an
ImageNet off-the-shelf backbone under CosPlace's head, never trained to recognise places), and
the seeded network tests use. Their answers deserve very different trust, so the kind travels
in the model's metadata (``geopin.kind``) and every place that reports the model (worker logs,
``/readyz``, ``geopin model default``) words it from here.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum


class ModelKind(StrEnum):
    COSPLACE = "cosplace"
    IMAGENET_OFFTHESHELF = "imagenet-offtheshelf"
    UNTRAINED = "untrained"

    @property
    def label(self) -> str:
        """A few words for logs and command output."""
        return _LABELS[self]

    @property
    def warning(self) -> str | None:
        """What ``/readyz`` warns about this kind; None for CosPlace-trained weights."""
        return _WARNINGS.get(self)


_LABELS = {
    ModelKind.COSPLACE: "CosPlace-trained",
    ModelKind.IMAGENET_OFFTHESHELF: "ImageNet off-the-shelf model, not CosPlace-trained",
    ModelKind.UNTRAINED: "UNTRAINED: results are meaningless",
}
_WARNINGS = {
    ModelKind.IMAGENET_OFFTHESHELF: (
        "the loaded model is an ImageNet off-the-shelf model, not CosPlace-trained: it finds "
        "views of the same scene, but it was never trained to recognise places; configure "
        "official CosPlace weights for real use (docs/models.md)"
    ),
    ModelKind.UNTRAINED: (
        "the loaded model is an untrained, seeded network: results are meaningless; "
        "see docs/models.md"
    ),
}


def kind_of(metadata: Mapping[str, str]) -> ModelKind:
    """The kind a model's metadata states; files from before ``geopin.kind`` go by
    ``geopin.trained`` (true for exported CosPlace weights, false for the seeded network)."""
    stated = metadata.get("geopin.kind")
    if stated in {kind.value for kind in ModelKind}:
        return ModelKind(stated)
    trained = metadata.get("geopin.trained", "true") == "true"
    return ModelKind.COSPLACE if trained else ModelKind.UNTRAINED


def kind_announced(announced: Mapping[str, object]) -> ModelKind:
    """The kind of model a worker announced (:mod:`geopin.presence`); workers from before
    kinds existed announce only ``trained``."""
    trained = "true" if announced.get("trained", True) else "false"
    return kind_of({"geopin.kind": str(announced.get("kind", "")), "geopin.trained": trained})
