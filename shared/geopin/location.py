"""Where a photo was probably taken, from its nearest references: one estimate per photo.

The best match alone is sometimes a brittle answer: one look-alike facade elsewhere in the city
moves it by kilometres, while the real place usually appears several times among the nearest
references. But where references are dense (every few metres along a street) a crowd of
mediocre matches is easy to find anywhere, and letting the biggest crowd win outvotes a clearly
better single match. So the top match is the anchor, and a crowd must earn its overruling:

1. The estimate looks at the first ``candidates`` matches, however many a job shows, so the
   answer does not depend on how it is displayed.
2. Each match weighs ``exp((score - best) / temperature)``: the best weighs 1, a match whose
   cosine is ``temperature`` lower weighs 1/e.
3. Each match is a candidate centre; its cluster is every match within ``cluster_radius_m``.
   The top match's cluster wins unless another weighs ``overrule_factor`` times more (then the
   heaviest wins; ties go to the better-ranked centre).
4. The estimate is the weighted mean position of the winning cluster; ``radius_m`` is the
   distance from it to the farthest member, but at least ``min_radius_m``, since one match
   places a photo no better than a VPR positive (25 m).
5. ``confidence`` is the chance that the photo was taken within ``radius_m``: the winning
   cluster's share of the weight, calibrated by a logistic map measured on a benchmark.

docs/location.md explains the choice, its measurements and its limits.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from geopin.geo import LatLon, haversine_m
from geopin.index import Match
from geopin.settings import LocationSettings

METHOD = "anchored-cluster"
_SHARE_BOUND = 1e-3  # keeps the logit finite: no share is quite 0 or 1


@dataclass(frozen=True)
class Estimate:
    location: LatLon
    confidence: float
    radius_m: float
    share: float  # the winning cluster's part of the weight, which confidence calibrates
    method: str = METHOD

    def public(self) -> dict[str, float | str]:
        return {
            "lat": self.location.lat,
            "lon": self.location.lon,
            "confidence": round(self.confidence, 4),
            "radius_m": round(self.radius_m, 1),
            "method": self.method,
        }


def matches_to_fetch(top_k: int, settings: LocationSettings) -> int:
    """How many matches a search needs: ``top_k`` to show, ``candidates`` to estimate from."""
    return max(top_k, settings.candidates)


def consensus(matches: Sequence[Match], settings: LocationSettings) -> Estimate | None:
    """The estimate from the first ``settings.candidates`` of ``matches`` (best first, as the
    index returns them); None if there are none."""
    candidates = matches[: settings.candidates]
    if not candidates:
        return None
    best = max(m.score for m in candidates)
    weights = [math.exp((m.score - best) / settings.temperature) for m in candidates]
    places = [m.location for m in candidates]
    reach = settings.cluster_radius_m
    clusters = [
        [j for j, other in enumerate(places) if haversine_m(centre, other) <= reach]
        for centre in places
    ]
    supports = [sum(weights[j] for j in cluster) for cluster in clusters]
    anchor = next(i for i, m in enumerate(candidates) if m.score == best)  # the top match
    # max() keeps the first of equal totals: the better-ranked centre wins a tie.
    heaviest = max(range(len(clusters)), key=supports.__getitem__)
    overruled = supports[heaviest] >= settings.overrule_factor * supports[anchor]
    winner = heaviest if overruled else anchor
    members = clusters[winner]
    centre = _weighted_mean([places[j] for j in members], [weights[j] for j in members])
    spread = max(haversine_m(centre, places[j]) for j in members)
    share = supports[winner] / sum(weights)
    radius = max(spread, settings.min_radius_m)
    return Estimate(centre, calibrated(share, settings), radius, share)


def calibrated(share: float, settings: LocationSettings) -> float:
    """The chance that the truth lies within the stated radius, given the winning cluster's
    share of the weight: ``sigmoid(intercept + slope * logit(share))`` (Platt scaling on the
    logit), increasing in the share since the slope is positive."""
    share = min(max(share, _SHARE_BOUND), 1.0 - _SHARE_BOUND)
    z = settings.calibration_intercept + settings.calibration_slope * math.log(share / (1 - share))
    return 1.0 / (1.0 + math.exp(-z))


def _weighted_mean(places: Sequence[LatLon], weights: Sequence[float]) -> LatLon:
    """Mean on a local tangent plane: exact enough for clusters of a few hundred metres.

    Longitudes are averaged as offsets from the first place, so a cluster astride the
    antimeridian (179.9 and -179.9) averages to 180, not to 0.
    """
    total = sum(weights)
    origin = places[0].lon
    lat = sum(w * p.lat for p, w in zip(places, weights, strict=True)) / total
    offset = sum(
        w * ((p.lon - origin + 180.0) % 360.0 - 180.0) for p, w in zip(places, weights, strict=True)
    )
    lon = (origin + offset / total + 180.0) % 360.0 - 180.0
    return LatLon(lat, lon)
