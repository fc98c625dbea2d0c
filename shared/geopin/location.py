"""Where a photo was probably taken, from its top-k matches: a score-weighted consensus.

The best match alone is a brittle answer: one look-alike facade elsewhere in the city moves
the estimate by kilometres. Real places usually appear several times among the top matches
(photos from neighbouring positions and headings), so GeoPin lets the matches vote:

1. Each match weighs ``exp((score - best) / temperature)``: the best weighs 1, a match whose
   cosine is ``temperature`` lower weighs 1/e.
2. Each match is a candidate centre; its cluster is every match within ``cluster_radius_m``.
   The cluster with the largest total weight wins (ties go to the better-ranked centre).
3. The estimate is the weighted mean position of the winning cluster; ``confidence`` is its
   share of the total weight (1 when every match agrees); ``radius_m`` is the distance from the
   estimate to the farthest member, but at least ``min_radius_m``, since one match places a
   photo no better than a VPR positive (25 m).

docs/location.md explains the choice and its limits.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from geopin.geo import LatLon, haversine_m
from geopin.index import Match
from geopin.settings import LocationSettings

METHOD = "densest-cluster"


@dataclass(frozen=True)
class Estimate:
    location: LatLon
    confidence: float
    radius_m: float
    method: str = METHOD

    def public(self) -> dict[str, float | str]:
        return {
            "lat": self.location.lat,
            "lon": self.location.lon,
            "confidence": round(self.confidence, 4),
            "radius_m": round(self.radius_m, 1),
            "method": self.method,
        }


def consensus(matches: Sequence[Match], settings: LocationSettings) -> Estimate | None:
    """The consensus of ``matches`` (best first, as the index returns them); None if empty."""
    if not matches:
        return None
    best = max(m.score for m in matches)
    weights = [math.exp((m.score - best) / settings.temperature) for m in matches]
    places = [m.location for m in matches]
    reach = settings.cluster_radius_m
    clusters = [
        [j for j, other in enumerate(places) if haversine_m(centre, other) <= reach]
        for centre in places
    ]
    # max() keeps the first of equal totals: the better-ranked centre wins a tie.
    members = max(clusters, key=lambda cluster: sum(weights[j] for j in cluster))
    support = sum(weights[j] for j in members)
    centre = _weighted_mean([places[j] for j in members], [weights[j] for j in members])
    spread = max(haversine_m(centre, places[j]) for j in members)
    return Estimate(centre, support / sum(weights), max(spread, settings.min_radius_m))


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
