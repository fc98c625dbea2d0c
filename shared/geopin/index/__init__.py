"""The reference index: geotagged embeddings searched by nearest neighbour.

Backends implement :class:`VectorIndex`; :mod:`geopin.wiring` picks one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from geopin.geo import GeoFilter, LatLon


@dataclass(frozen=True)
class Reference:
    """One reference photo: where it was taken and its embedding.

    ``id`` is what matches show; ``key`` identifies the stored document and is derived from
    the photo's bytes by ingestion, so writing the same photo again overwrites it.
    """

    id: str
    location: LatLon
    vector: np.ndarray
    key: str | None = None  # defaults to ``id``
    heading: float | None = None  # degrees clockwise from north, when the source knows it
    captured_at: str | None = None  # ISO 8601, when the source knows it

    @property
    def storage_key(self) -> str:
        return self.key or self.id


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
    """An index of references; its backend's outages raise :class:`IndexUnavailable`."""

    @property
    def alias(self) -> str:
        """The name searches use; it points at the live version."""

    @property
    def target(self) -> str:
        """What this index reads and writes: the alias, or one version by name."""

    def ensure(self, dim: int, model_id: str) -> None:
        """Create the index for vectors of this model when it does not exist yet."""

    def add(self, references: Iterable[Reference], model_id: str) -> int:
        """Write references (idempotent by id); returns how many were written."""

    def search(
        self, vector: np.ndarray, k: int, model_id: str, geo: GeoFilter | None = None
    ) -> list[Match]:
        """The k nearest references inside ``geo`` (everywhere when None), best first.

        The area filters candidates inside the nearest-neighbour search, not afterwards, so a
        query still gets k matches when the k nearest overall lie elsewhere.
        """

    def contains(self, keys: Sequence[str]) -> set[str]:
        """The storage keys among ``keys`` already written, searchable yet or not."""

    def bulk_load(self, force_merge: bool = False) -> AbstractContextManager[None]:
        """A context for a large load: searches of the index may lag behind writes until it
        ends; afterwards everything written is searchable (and merged, if asked)."""

    def refresh(self) -> None:
        """Make everything added so far searchable."""

    def count(self) -> int:
        """Number of references searchable now."""

    def check(self) -> str | None:
        """None when the index can serve searches, else what is wrong (no index yet), in one
        line; like every method, raises IndexUnavailable when the backend does not answer."""


@dataclass(frozen=True)
class IndexVersion:
    """One versioned index behind (or formerly behind) the alias."""

    name: str
    model_id: str
    dim: int
    count: int
    live: bool  # the alias points at it: searches use it
    created_at: str


class IndexVersions(Protocol):
    """Index lifecycle: build a new version beside the live one, swap, prune the old."""

    def versions(self) -> list[IndexVersion]:
        """Every version of the alias, oldest first."""

    def create(self, dim: int, model_id: str) -> str:
        """A new, empty version not yet behind the alias; returns its name."""

    def open(self, name: str) -> VectorIndex:
        """The index of one version, to load it before it goes live."""

    def swap(self, name: str) -> str | None:
        """Point the alias at ``name`` in one atomic step; returns the version it left."""

    def prune(self) -> list[str]:
        """Delete every version the alias does not point at; returns their names."""
