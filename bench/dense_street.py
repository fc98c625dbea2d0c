"""Location estimates where references are dense: the top match's position against the
consensus estimate (the API's ``location``), and whether its confidence means what it says.

The world is :mod:`tests.support.streets`: one street per real photograph, reference spots
10-30 m apart with three views each, queries anywhere along the streets with one strong
change of appearance; and the same streets with only every 12th spot (about 240 m apart) as
the sparse case. Every photo is embedded by the default model exactly as the embedding worker
does; the nearest references come from an exact cosine search; the estimate is
:func:`geopin.location.consensus` with the settings of the environment (GEOPIN_LOCATION__*)::

    .venv/bin/python -m bench.dense_street

Confidence is checked on half the streets (odd ones), so that a calibration fitted on the
other half is judged on queries it never saw.
"""

from __future__ import annotations

import argparse
import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
from geopin.geo import haversine_m
from geopin.index import Match
from geopin.location import Estimate, consensus
from geopin.settings import LocationSettings, Settings

from bench.real_photos import embedder
from tests.support.streets import View, World, build, query_photo, reference_photo
from tests.support.wallpapers import fetch, photos

WITHIN_M = (25.0, 100.0)
DISPLAYED = 10  # the API's default top_k: how many matches today's estimate is computed from
Vectors = npt.NDArray[np.float32]


def embedded(world: World, cache: Path) -> tuple[Vectors, Vectors, Vectors]:
    """Unit vectors of the references, the queries and the sparse queries (cached)."""
    from geopin_tools.model.default_model import ensure_default_model

    model = ensure_default_model(cache / "models")
    views = [*world.references, *world.queries, *world.sparse_queries]
    key = hashlib.sha256(f"{model.name}{views}".encode()).hexdigest()[:16]
    stored = cache / f"dense-street-{key}.npy"
    if stored.exists():
        vectors: Vectors = np.load(stored)
    else:
        embed = embedder(model)
        photos_ = [reference_photo(world, v) for v in world.references]
        photos_ += [query_photo(world, v, turn) for turn, v in enumerate(world.queries)]
        photos_ += [query_photo(world, v, turn) for turn, v in enumerate(world.sparse_queries)]
        vectors = np.stack([embed(data) for data in photos_]).astype(np.float32)
        np.save(stored, vectors)
    dense_end = len(world.references) + len(world.queries)
    return (
        vectors[: len(world.references)],
        vectors[len(world.references) : dense_end],
        vectors[dense_end:],
    )


def nearest(
    references: Sequence[View], vectors: Vectors, query: npt.NDArray[np.float32], k: int
) -> list[Match]:
    scores = vectors @ query
    order = np.argsort(-scores, kind="stable")[:k]
    return [Match(str(i), references[i].location, float(scores[i])) for i in order]


def report(
    name: str,
    references: Sequence[View],
    vectors: Vectors,
    queries: Sequence[View],
    query_vectors: Vectors,
    settings: LocationSettings,
) -> None:
    top1_errors, estimates = [], []
    for view, vector in zip(queries, query_vectors, strict=True):
        matches = nearest(references, vectors, vector, DISPLAYED)
        top1_errors.append(haversine_m(matches[0].location, view.location))
        estimate = consensus(matches, settings)
        assert estimate is not None
        estimates.append(estimate)
    errors = [haversine_m(e.location, v.location) for e, v in zip(estimates, queries, strict=True)]
    print(f"{name}: {len(references)} references, {len(queries)} queries")
    for label, found in (("top-1 match", top1_errors), ("consensus", errors)):
        shares = "  ".join(f"within {r:g} m {_share(found, r):5.1f}%" for r in WITHIN_M)
        print(f"  {label:<12} {shares}")
    checked = [i for i, view in enumerate(queries) if view.street % 2 == 1]
    _calibration([estimates[i] for i in checked], [errors[i] for i in checked])


def _share(errors: Sequence[float], radius: float) -> float:
    return 100.0 * sum(e <= radius for e in errors) / len(errors)


def _calibration(estimates: Sequence[Estimate], errors: Sequence[float]) -> None:
    """Stated confidence against the observed share of answers within the stated radius."""
    stated = np.array([e.confidence for e in estimates])
    inside = np.array([err <= e.radius_m for e, err in zip(estimates, errors, strict=True)])
    print(
        f"  confidence (check half, {len(estimates)} queries): stated {100 * stated.mean():5.1f}%,"
        f" observed within the stated radius {100 * inside.mean():5.1f}%"
    )
    for low, high in ((0.0, 0.5), (0.5, 0.8), (0.8, 1.01)):
        chosen = (stated >= low) & (stated < high)
        if chosen.any():
            print(
                f"    stated {low:.1f}-{min(high, 1):.1f}: {int(chosen.sum()):4d} queries,"
                f" stated {100 * stated[chosen].mean():5.1f}%,"
                f" observed {100 * inside[chosen].mean():5.1f}%"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=Path(".cache/bench/wallpapers"))
    args = parser.parse_args()
    world = build(photos(fetch(args.cache)))
    references, queries, sparse_queries = embedded(world, args.cache)
    settings = Settings().location
    report("dense", world.references, references, world.queries, queries, settings)
    sparse = world.sparse_references()
    report(
        "sparse",
        [world.references[i] for i in sparse],
        references[sparse],
        world.sparse_queries,
        sparse_queries,
        settings,
    )


if __name__ == "__main__":
    main()
