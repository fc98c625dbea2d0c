"""Does a model change recall? Two models' hits on the same queries, compared pair by pair.

Both models answer the same queries, so what matters is the queries on which they disagree
(one finds the place, the other does not); recall measured on each alone would hide that in
the spread of the queries. The confidence interval of the difference comes from a bootstrap
over groups of queries (the places): several queries of one place are not independent, and
resampling them one by one would make the interval too narrow.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Hits = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class PairedDifference:
    """Recall of model A and of model B on the same queries, and B - A with its interval."""

    queries: int
    groups: int
    recall_a: float
    recall_b: float
    only_a: int  # queries A answers right and B wrong
    only_b: int
    low: float  # the interval of recall_b - recall_a
    high: float
    confidence: float

    @property
    def difference(self) -> float:
        return self.recall_b - self.recall_a


def paired_difference(
    hits_a: Hits,
    hits_b: Hits,
    groups: Sequence[int] | npt.NDArray[np.integer],
    resamples: int = 10_000,
    confidence: float = 0.95,
    seed: int = 0,
) -> PairedDifference:
    """Recall B - A, with a percentile bootstrap interval that resamples whole groups."""
    a, b = np.asarray(hits_a, bool), np.asarray(hits_b, bool)
    group_of = np.asarray(groups)
    if not a.shape == b.shape == group_of.shape or a.ndim != 1 or not len(a):
        raise ValueError("hits_a, hits_b and groups must be equally long, non-empty vectors")
    _, index = np.unique(group_of, return_inverse=True)
    count = int(index.max()) + 1
    gained = np.bincount(index, weights=b.astype(float) - a.astype(float), minlength=count)
    sizes = np.bincount(index, minlength=count).astype(float)
    picks = np.random.default_rng(seed).integers(0, count, size=(resamples, count))
    differences = gained[picks].sum(axis=1) / sizes[picks].sum(axis=1)
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(differences, [tail, 100 - tail])
    return PairedDifference(
        queries=len(a),
        groups=count,
        recall_a=float(a.mean()),
        recall_b=float(b.mean()),
        only_a=int(np.sum(a & ~b)),
        only_b=int(np.sum(b & ~a)),
        low=float(low),
        high=float(high),
        confidence=confidence,
    )
