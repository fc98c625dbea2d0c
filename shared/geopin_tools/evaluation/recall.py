"""Recall@N on a VPR-format dataset, by the field's standard protocol (docs/evaluation.md).

A dataset has ``images/test/database/`` and ``images/test/queries/``, photos named as
VPR-datasets names them (UTM east/north first). A database photo is a *positive* for a query
when their UTM positions are at most 25 m apart. Recall@N is the percentage of **all** queries
with at least one positive among their N nearest database photos: a query without any
positive counts as a miss. Besides recall, the share of queries whose location estimate falls
within 25 m, 100 m and 1 km of the truth, for the top-1 match and for the consensus estimate
(:mod:`geopin.location`), says how good the answer a user sees is.

The nearest photos come either from an exact search here (:func:`exact_ranking`, L2 distance
as faiss's IndexFlatL2 computes it) or from the running service; both are scored by
:func:`score`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
from geopin.geo import LatLon, haversine_m
from geopin.ingest.sources import parse_vpr_name, photos_under

RECALL_AT: Final = (1, 5, 10, 20)
POSITIVE_M: Final = 25.0
ESTIMATE_WITHIN_M: Final = (25.0, 100.0, 1000.0)


class EvaluationError(Exception):
    """The evaluation cannot go on; the message says why in one line."""


class DatasetError(EvaluationError):
    """The folder is not a usable VPR-format dataset."""


@dataclass(frozen=True)
class VprImage:
    path: Path
    id: str  # path relative to its split folder: the reference ID when indexed
    east: float
    north: float
    location: LatLon


@dataclass(frozen=True)
class VprDataset:
    name: str
    database_dir: Path
    database: list[VprImage]
    queries: list[VprImage]


@dataclass(frozen=True)
class Ranking:
    """What a search returned for one query: database positions, best first, with scores."""

    positions: list[int]  # -1 for a match that is not a database photo of this dataset
    estimate: LatLon | None  # the consensus location estimate


def load_dataset(root: Path) -> VprDataset:
    test = root / "images" / "test"
    database, queries = (_split(test / part) for part in ("database", "queries"))
    return VprDataset(root.resolve().name, test / "database", database, queries)


def _split(folder: Path) -> list[VprImage]:
    if not folder.is_dir():
        raise DatasetError(f"{folder} is missing: a VPR dataset has images/test/{folder.name}/")
    images = []
    for path in photos_under(folder):
        name = path.relative_to(folder).as_posix()
        try:
            parsed = parse_vpr_name(path.name)
        except ValueError as exc:
            raise DatasetError(f"{name}: {exc}") from exc
        if parsed.location is None:
            raise DatasetError(f"{name}: no lat/lon and no UTM zone, so no place to compare")
        images.append(VprImage(path, name, parsed.east, parsed.north, parsed.location))
    if not images:
        raise DatasetError(f"{folder} holds no photos")
    return images


def exact_ranking(
    database: npt.NDArray[np.float32], queries: npt.NDArray[np.float32], k: int
) -> npt.NDArray[np.int64]:
    """The k nearest database rows of each query by exact squared L2 distance [Q, k]."""
    distances = (
        (queries**2).sum(axis=1, keepdims=True)
        + (database**2).sum(axis=1)[np.newaxis, :]
        - 2.0 * queries @ database.T
    )
    k = min(k, database.shape[0])
    nearest = np.argpartition(distances, k - 1, axis=1)[:, :k]
    order = np.take_along_axis(distances, nearest, axis=1).argsort(axis=1, kind="stable")
    return np.take_along_axis(nearest, order, axis=1)


def positives(dataset: VprDataset, threshold_m: float = POSITIVE_M) -> list[set[int]]:
    """For each query, the database positions within ``threshold_m`` in UTM metres."""
    db = np.array([(image.east, image.north) for image in dataset.database])
    result = []
    for query in dataset.queries:
        distance = np.hypot(db[:, 0] - query.east, db[:, 1] - query.north)
        result.append({int(i) for i in np.flatnonzero(distance <= threshold_m)})
    return result


def score(dataset: VprDataset, rankings: Sequence[Ranking]) -> dict[str, Any]:
    """Recall@N and estimate accuracy, as percentages of all queries."""
    truth = positives(dataset)
    total = len(dataset.queries)

    def percent(count: int) -> float:
        return round(100.0 * count / total, 2)

    recall = {
        str(n): percent(
            sum(1 for r, p in zip(rankings, truth, strict=True) if p & set(r.positions[:n]))
        )
        for n in RECALL_AT
    }
    top1 = [
        dataset.database[r.positions[0]].location if r.positions and r.positions[0] >= 0 else None
        for r in rankings
    ]
    consensus = [r.estimate for r in rankings]
    return {
        "dataset": dataset.name,
        "database": len(dataset.database),
        "queries": total,
        "queries_without_positive": sum(1 for p in truth if not p),
        "positive_threshold_m": POSITIVE_M,
        "recall_percent": recall,
        "estimate_within_percent": {
            "top1": _within(dataset, top1, percent),
            "consensus": _within(dataset, consensus, percent),
        },
    }


def _within(
    dataset: VprDataset, estimates: Sequence[LatLon | None], percent: Callable[[int], float]
) -> dict[str, float]:
    errors = [
        haversine_m(estimate, query.location) if estimate is not None else float("inf")
        for estimate, query in zip(estimates, dataset.queries, strict=True)
    ]
    return {
        f"{radius:g}m": percent(sum(e <= radius for e in errors)) for radius in ESTIMATE_WITHIN_M
    }
