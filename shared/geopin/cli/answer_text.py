"""How ``geopin locate`` shows answers to a person: a short summary for one photo, a table
for many (one row as each photo's job ends)."""

from __future__ import annotations

from geopin.answers import Answer
from geopin.geo import LatLon, haversine_m

PHOTO_WIDTH_MAX = 40
# Each column: its title and its width; the photo's width depends on the photos' names.
COLUMNS = (
    ("STATUS", 9),
    ("LAT", 10),
    ("LON", 11),
    ("RADIUS", 8),
    ("CONF", 5),
    ("BEST MATCH", 20),
    ("SCORE", 6),
)


def summary(answer: Answer) -> str:
    """Where (the estimate and its radius), how sure, and the best match: a succeeded job."""
    estimate, best = answer.estimate, answer.best_match
    if estimate is None:
        where = f"{answer.photo}: no estimate (no reference photo matched)"
    else:
        where = (
            f"{answer.photo}: {estimate.lat:.6f}, {estimate.lon:.6f}, within "
            f"{estimate.radius_m:.0f} m (confidence {estimate.confidence:.2f})"
        )
    if best is None:
        return where
    match = f"best match: {best.id} (score {best.score:.3f})"
    if estimate is not None:
        away = haversine_m(LatLon(estimate.lat, estimate.lon), LatLon(best.lat, best.lon))
        match += f", {away:.0f} m from the estimate"
    return f"{where}\n{match}"


class Table:
    """Fixed-width rows, so rows printed one at a time line up."""

    def __init__(self, photos: list[str]) -> None:
        self._photo_width = min(PHOTO_WIDTH_MAX, max((len(p) for p in photos), default=5))

    def header(self) -> str:
        cells = [("PHOTO", self._photo_width), *COLUMNS]
        return "  ".join(title.ljust(width) for title, width in cells) + "  ERROR"

    def row(self, answer: Answer) -> str:
        estimate, best = answer.estimate, answer.best_match
        values = (
            answer.status,
            f"{estimate.lat:.6f}" if estimate else "",
            f"{estimate.lon:.6f}" if estimate else "",
            f"{estimate.radius_m:.0f} m" if estimate else "",
            f"{estimate.confidence:.2f}" if estimate else "",
            _cut(best.id, 20) if best else "",
            f"{best.score:.3f}" if best else "",
        )
        cells = [_cut(answer.photo, self._photo_width).ljust(self._photo_width)]
        cells += [value.ljust(width) for value, (_, width) in zip(values, COLUMNS, strict=True)]
        return ("  ".join(cells) + "  " + (answer.error_code or "")).rstrip()


def _cut(text: str, width: int) -> str:
    """At most ``width`` characters; a long name keeps its end, where names differ most."""
    return text if len(text) <= width else "…" + text[-(width - 1) :]
