"""``/v1/references``: what the index holds about a reference photo, for people to see."""

from __future__ import annotations

from flask import Blueprint, Response

from geopin_gateway.context import gateway
from geopin_gateway.problems import Problem
from geopin_gateway.security import limiter, read_rate

bp = Blueprint("references", __name__, url_prefix="/v1")

# Thumbnails change only when a reference is indexed again under the same ID: rare.
CACHE_CONTROL = "private, max-age=3600"


@bp.get("/references/<reference_id>/thumbnail")
@limiter.limit(read_rate)
def thumbnail(reference_id: str) -> Response:
    jpeg = gateway().thumbnails.get(reference_id)
    if jpeg is None:
        raise Problem.of(
            "thumbnail-not-found",
            "no thumbnail for this reference (unknown, or indexed before thumbnails were kept)",
        )
    return Response(jpeg, mimetype="image/jpeg", headers={"Cache-Control": CACHE_CONTROL})
