"""What a loaded model says about itself: the identity that travels with every vector.

Apart from the session so that readers of announcements (the gateway's ``/readyz``) need no
model runtime.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ModelInfo:
    """What the ONNX file says about itself (metadata written by GeoPin's builder)."""

    model_id: str
    backbone: str
    dim: int
    trained: bool
    description: str
    kind: str  # a geopin.model.kinds.ModelKind value

    def public(self) -> dict[str, str | int | bool]:
        return {
            "model_id": self.model_id,
            "backbone": self.backbone,
            "dim": self.dim,
            "trained": self.trained,
            "kind": self.kind,
            "description": self.description,
        }
