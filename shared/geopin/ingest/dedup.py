"""Near-duplicate references: the same view photographed twice adds no new place.

A photo is a near-duplicate when a reference within ``radius_m`` metres has an embedding at
least ``min_cosine`` similar. References indexed by earlier runs are found with a kNN search
filtered to that circle; those accepted in this run (not yet searchable, since refresh is off
during a load) are kept in memory on a grid of cells about ``radius_m`` wide.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from geopin.geo import EARTH_RADIUS_M, Circle, LatLon, haversine_m
from geopin.index import VectorIndex
from geopin.settings import DedupSettings

METRES_PER_DEGREE = EARTH_RADIUS_M * math.pi / 180


@dataclass(frozen=True)
class _Seen:
    id: str
    location: LatLon
    vector: np.ndarray


class NearDuplicates:
    def __init__(self, settings: DedupSettings, index: VectorIndex, model_id: str) -> None:
        self._settings = settings
        self._index = index
        self._model_id = model_id
        self._cell_deg = settings.radius_m / METRES_PER_DEGREE
        self._cells: dict[tuple[int, int], list[_Seen]] = defaultdict(list)

    def find(self, id: str, location: LatLon, vector: np.ndarray) -> str | None:
        """What reference ``id``'s ``vector`` at ``location`` repeats, described for the
        report; None if new. The reference it replaces, indexed under the same ID, does not
        count: a photo may replace a near-identical one."""
        for seen in self._nearby(location):
            cosine = float(np.dot(seen.vector, vector))
            if cosine >= self._settings.min_cosine:
                return self._describe(seen.id, cosine, haversine_m(location, seen.location))
        area = Circle(location, self._settings.radius_m)
        nearest = self._index.search(vector, 2, self._model_id, geo=area)
        for match in [match for match in nearest if match.id != id][:1]:
            if match.score >= self._settings.min_cosine:
                return self._describe(match.id, match.score, haversine_m(location, match.location))
        return None

    def remember(self, id: str, location: LatLon, vector: np.ndarray) -> None:
        self._cells[self._cell(location)].append(_Seen(id, location, vector))

    def _cell(self, location: LatLon) -> tuple[int, int]:
        return math.floor(location.lat / self._cell_deg), math.floor(location.lon / self._cell_deg)

    def _nearby(self, location: LatLon) -> list[_Seen]:
        """Everything remembered within ``radius_m``: a degree of longitude shrinks with
        latitude, so more cells are scanned east and west than north and south."""
        row, col = self._cell(location)
        cos_lat = max(math.cos(math.radians(location.lat)), 1e-6)
        span = min(math.ceil(1 / cos_lat), 360)
        return [
            seen
            for d_row in (-1, 0, 1)
            for d_col in range(-span, span + 1)
            for seen in self._cells.get((row + d_row, col + d_col), [])
            if haversine_m(location, seen.location) <= self._settings.radius_m
        ]

    def _describe(self, id: str, cosine: float, metres: float) -> str:
        return f"cosine {cosine:.4f} to {id}, {metres:.1f} m away"
