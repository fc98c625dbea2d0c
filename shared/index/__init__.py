"""The reference index: geotagged embeddings searched by nearest neighbour.

Backends implement :class:`VectorIndex`; :mod:`shared.backends` picks one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from shared.geo import LatLon


@dataclass(frozen=True)
class Reference:
    """One reference photo: where it was taken and its embedding."""

    id: str
    location: LatLon
    vector: np.ndarray


@dataclass(frozen=True)
class Match:
    """A reference found for a query; score is the cosine similarity (1 = same direction)."""

    id: str
    location: LatLon
    score: float

    def public(self) -> dict[str, float | str]:
        return {
            "id": self.id,
            "lat": self.location.lat,
            "lon": self.location.lon,
            "score": self.score,
        }


class IndexProblem(Exception):
    """Base of the index's own errors; each has a stable code for job errors."""

    code = "index-error"


class IndexMissing(IndexProblem):
    code = "index-missing"


class ModelMismatch(IndexProblem):
    """Vectors from two models are not comparable; mixing them gives confident nonsense."""

    code = "model-mismatch"


class IndexUnavailable(IndexProblem):
    """The backend did not answer; worth retrying."""

    code = "index-unavailable"


class VectorIndex(Protocol):
    def ensure(self, dim: int, model_id: str) -> None:
        """Create the index for vectors of this model when it does not exist yet."""

    def add(self, references: Iterable[Reference], model_id: str) -> int:
        """Write references (idempotent by id); returns how many were written."""

    def search(self, vector: np.ndarray, k: int, model_id: str) -> list[Match]:
        """The k nearest references, best first."""

    def refresh(self) -> None:
        """Make everything added so far searchable."""

    def count(self) -> int:
        """Number of references searchable now."""

    def check(self) -> str | None:
        """None when the index can serve searches, else what is wrong, in one line."""
