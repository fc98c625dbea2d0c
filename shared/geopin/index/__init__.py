"""The reference index: geotagged embeddings searched by nearest neighbour.

Backends implement :class:`VectorIndex`; :mod:`geopin.wiring` picks one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from geopin.geo import GeoFilter, LatLon


def reference_key(reference_id: str) -> str:
    """The stored document's key for a reference ID: one document per ID, whatever its
    characters or length (an Elasticsearch ``_id`` holds at most 512 bytes)."""
    return hashlib.sha256(reference_id.encode("utf-8")).hexdigest()[:32]


@dataclass(frozen=True)
class Reference:
    """One reference photo: where it was taken, its embedding, and which photo it was.

    ``id`` is the key: an index holds at most one reference per ID. ``photo`` identifies the
    photo's bytes (set by ingestion), so adding the same photo again is recognised, and
    ``thumbnail`` is a small JPEG of it for people, stored with the reference so that both
    are replaced, versioned and deleted together.
    """

    id: str
    location: LatLon
    vector: np.ndarray
    photo: str | None = None
    thumbnail: bytes | None = None
    heading: float | None = None  # degrees clockwise from north, when the source knows it
    captured_at: str | None = None  # ISO 8601, when the source knows it

    @property
    def storage_key(self) -> str:
        return reference_key(self.id)


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


class IndexOutdated(IndexProblem):
    """A version written before reference IDs were keys may hold one ID twice: it still
    serves searches, but takes no more references."""

    code = "index-outdated"

    def __init__(self, target: str) -> None:
        super().__init__(
            f"index {target!r} was built before reference IDs were keys (it may hold an ID "
            "twice) and takes no more photos: build a new version with "
            "`geopin index rebuild SOURCE`"
        )


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
        """Create the index for vectors of this model when it does not exist yet; raises
        ModelMismatch for another model's, IndexOutdated for one that cannot take writes."""

    def add(
        self, references: Iterable[Reference], model_id: str, *, replace: bool = False
    ) -> set[str]:
        """Write references, one per ID. An ID already held is overwritten (vector, photo and
        thumbnail) when ``replace``; otherwise it is left as it is and returned among the IDs
        not written. Two processes adding one ID at once leave one reference either way, and
        without ``replace`` exactly one of them writes it."""

    def search(
        self, vector: np.ndarray, k: int, model_id: str, geo: GeoFilter | None = None
    ) -> list[Match]:
        """The k nearest references inside ``geo`` (everywhere when None), best first.

        The area filters candidates inside the nearest-neighbour search, not afterwards, so a
        query still gets k matches when the k nearest overall lie elsewhere.
        """

    def photos(self, ids: Sequence[str]) -> dict[str, str | None]:
        """The photo each of these IDs is held with, for the IDs already written, searchable
        yet or not (None for a reference written without one)."""

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
