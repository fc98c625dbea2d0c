"""Location estimates where references are dense: the top match's position against the
location estimate (the API's ``location``), and whether its confidence means what it says.

The world is :mod:`tests.support.streets`: one street per real photograph, reference spots
10-30 m apart with three views each, queries anywhere along the streets with one strong
change of appearance; and the same streets with only every 12th spot (about 240 m apart) as
the sparse case. Every photo is embedded by the default model exactly as the embedding worker
does (cached under --cache); the nearest references come from an exact cosine search. Side by
side: the top match, the estimate as GeoPin computed it before (``PREVIOUS``), and
:func:`geopin.location.consensus` with the settings of the environment (GEOPIN_LOCATION__*)::

    .venv/bin/python -m bench.dense_street            # --seed N draws another world
    .venv/bin/python -m bench.dense_street --model cosplace.onnx    # another model

Confidence is checked on half the streets (odd ones); the calibration printed at the end is
fitted on the other half (even ones), so the defaults it gave are judged on queries they
never saw.
"""

from __future__ import annotations

import argparse
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from geopin.geo import haversine_m
from geopin.index import Match
from geopin.location import Estimate, consensus, matches_to_fetch
from geopin.settings import LocationSettings, Settings
from geopin_tools.evaluation.calibration import fit_calibration

from bench.real_photos import embedder
from tests.support.streets import View, World, build, query_photo, reference_photo
from tests.support.wallpapers import fetch, photos

WITHIN_M = (25.0, 100.0)
DISPLAYED = 10  # the API's default top_k
# The estimate as GeoPin computed it before it was anchored on the top match: the heaviest
# cluster always wins (a factor of 1), from the 10 matches shown by default, softer weights,
# and the share itself as the confidence.
PREVIOUS = LocationSettings(
    candidates=DISPLAYED,
    temperature=0.05,
    overrule_factor=1.0,
    calibration_intercept=0.0,
    calibration_slope=1.0,
)
Vectors = npt.NDArray[np.float32]


def embedded(world: World, model: Path, cache: Path) -> tuple[Vectors, Vectors, Vectors]:
    """Unit vectors of the references, the queries and the sparse queries (cached by the
    model file's name and the views)."""
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


@dataclass(frozen=True)
class Outcome:
    """One query's answers: the top match's error and the estimate with its own error."""

    street: int
    top1_error_m: float
    estimate: Estimate
    error_m: float

    @property
    def inside(self) -> bool:
        """Whether the truth lies within the estimate's stated radius."""
        return self.error_m <= self.estimate.radius_m


def outcomes(
    references: Sequence[View],
    vectors: Vectors,
    queries: Sequence[View],
    query_vectors: Vectors,
    settings: LocationSettings,
) -> list[Outcome]:
    found = []
    for view, vector in zip(queries, query_vectors, strict=True):
        matches = nearest(references, vectors, vector, matches_to_fetch(DISPLAYED, settings))
        estimate = consensus(matches, settings)
        assert estimate is not None
        top1_error = haversine_m(matches[0].location, view.location)
        error = haversine_m(estimate.location, view.location)
        found.append(Outcome(view.street, top1_error, estimate, error))
    return found


def report(name: str, references: int, estimators: Mapping[str, Sequence[Outcome]]) -> None:
    """Top-1 against each estimator within 25 m and 100 m, then each one's calibration."""
    first = next(iter(estimators.values()))
    print(f"{name}: {references} references, {len(first)} queries")
    rows = {"top-1 match": [o.top1_error_m for o in first]}
    rows.update({label: [o.error_m for o in found] for label, found in estimators.items()})
    for label, errors in rows.items():
        shares = "  ".join(f"within {r:g} m {_share(errors, r):5.1f}%" for r in WITHIN_M)
        print(f"  {label:<28} {shares}")
    for label, found in estimators.items():
        checked = [o for o in found if o.street % 2 == 1]
        stated = np.array([o.estimate.confidence for o in checked])
        inside = np.array([o.inside for o in checked])
        print(
            f"  {label}, check half ({len(checked)} queries): stated confidence"
            f" {100 * stated.mean():.1f}%, observed within the stated radius"
            f" {100 * inside.mean():.1f}%"
        )
        for low, high in ((0.0, 0.5), (0.5, 0.8), (0.8, 1.01)):
            chosen = (stated >= low) & (stated < high)
            if chosen.any():
                print(
                    f"    stated {low:.1f}-{min(high, 1):.1f}: {int(chosen.sum()):4d} queries,"
                    f" stated {100 * stated[chosen].mean():5.1f}%,"
                    f" observed {100 * inside[chosen].mean():5.1f}%"
                )


def _share(errors: Sequence[float], radius: float) -> float:
    return 100.0 * sum(e <= radius for e in errors) / len(errors)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=Path(".cache/bench/wallpapers"))
    parser.add_argument("--seed", type=int, default=0, help="draws spots, noise and queries")
    parser.add_argument("--model", type=Path, help="an ONNX model file; default: the default model")
    args = parser.parse_args()
    from geopin_tools.model.default_model import ensure_default_model

    model = args.model or ensure_default_model(args.cache / "models")
    world = build(photos(fetch(args.cache)), args.seed)
    references, queries, sparse_queries = embedded(world, model, args.cache)
    estimators = {
        "previous (densest cluster)": PREVIOUS,
        "estimate (settings)": Settings().location,
    }
    print(f"estimate settings: {estimators['estimate (settings)'].model_dump()}")
    dense = {
        label: outcomes(world.references, references, world.queries, queries, settings)
        for label, settings in estimators.items()
    }
    report("dense", len(world.references), dense)
    sparse = world.sparse_references()
    chosen = [world.references[i] for i in sparse]
    report(
        "sparse",
        len(chosen),
        {
            label: outcomes(
                chosen, references[sparse], world.sparse_queries, sparse_queries, settings
            )
            for label, settings in estimators.items()
        },
    )
    fit_half = [o for o in dense["estimate (settings)"] if o.street % 2 == 0]
    intercept, slope = fit_calibration(
        [o.estimate.share for o in fit_half], [o.inside for o in fit_half]
    )
    print(
        "calibration fitted on the dense fit half (even streets):"
        f" GEOPIN_LOCATION__CALIBRATION_INTERCEPT={intercept:.2f}"
        f" GEOPIN_LOCATION__CALIBRATION_SLOPE={slope:.2f}"
    )


if __name__ == "__main__":
    main()
