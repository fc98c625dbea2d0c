"""In-memory stand-ins for the index and the model, for ingestion's unit tests."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import numpy.typing as npt
from geopin.geo import BoundingBox, Circle, GeoFilter, LatLon, haversine_m
from geopin.index import Match, Reference


class MemoryIndex:
    """Exact search over a dict by reference ID; ``fail_after`` writes, it raises (a crash
    mid-run)."""

    def __init__(self, fail_after: int | None = None) -> None:
        self.docs: dict[str, Reference] = {}
        self.writes = 0
        self.fail_after = fail_after
        self.loads = 0

    def ensure(self, dim: int, model_id: str) -> None:
        pass

    def add(
        self, references: Iterable[Reference], model_id: str, *, replace: bool = False
    ) -> set[str]:
        batch = list(references)
        if self.fail_after is not None and self.writes >= self.fail_after:
            raise ConnectionError("the index went away")
        self.writes += 1
        held = {ref.id for ref in batch if ref.id in self.docs and not replace}
        self.docs.update({ref.id: ref for ref in batch if ref.id not in held})
        return held

    def search(
        self, vector: np.ndarray, k: int, model_id: str, geo: GeoFilter | None = None
    ) -> list[Match]:
        inside = [ref for ref in self.docs.values() if geo is None or _inside(ref.location, geo)]
        scored = sorted(inside, key=lambda ref: -float(np.dot(ref.vector, vector)))
        return [Match(r.id, r.location, float(np.dot(r.vector, vector))) for r in scored[:k]]

    def photos(self, ids: Sequence[str]) -> dict[str, str | None]:
        return {id: self.docs[id].photo for id in ids if id in self.docs}

    @contextmanager
    def bulk_load(self, force_merge: bool = False) -> Iterator[None]:
        self.loads += 1
        yield

    def refresh(self) -> None:
        pass

    def count(self) -> int:
        return len(self.docs)

    def check(self) -> str | None:
        return None


def _inside(location: LatLon, area: GeoFilter) -> bool:
    if isinstance(area, Circle):
        return haversine_m(location, area.centre) <= area.radius_m
    assert isinstance(area, BoundingBox)
    return area.south <= location.lat <= area.north and area.west <= location.lon <= area.east


class PixelEmbedder:
    """Embeds by the pixels themselves (8x8 mean-pooled, centred, unit length): equal photos
    give equal vectors and different photos clearly different ones."""

    def __init__(self) -> None:
        self.calls: list[int] = []

    def embed_batch(self, pixels: Sequence[npt.NDArray[np.float32]]) -> list[np.ndarray]:
        self.calls.append(len(pixels))
        vectors = []
        for image in pixels:
            _, height, width = image.shape
            pooled = image[:, : height // 8 * 8, : width // 8 * 8]
            pooled = pooled.reshape(3, 8, height // 8, 8, width // 8).mean(axis=(2, 4)).ravel()
            pooled = pooled - pooled.mean()
            vectors.append((pooled / np.linalg.norm(pooled)).astype(np.float32))
        return vectors
