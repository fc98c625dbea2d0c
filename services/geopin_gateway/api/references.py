"""``/v1/references``: what the index holds about a reference photo, for people to see."""

from __future__ import annotations

from flask import Blueprint, Response

from geopin_gateway.context import gateway
from geopin_gateway.problems import Problem

bp = Blueprint("references", __name__, url_prefix="/v1")

# Thumbnails change only when a reference is indexed again under the same ID: rare.
CACHE_CONTROL = "private, max-age=3600"


@bp.get("/references/<reference_id>/thumbnail")
def thumbnail(reference_id: str) -> Response:
    jpeg = gateway().thumbnails.get(reference_id)
    if jpeg is None:
        raise Problem(
            404,
            "thumbnail-not-found",
            "Thumbnail not found",
            "no thumbnail for this reference (unknown, or indexed before thumbnails were kept)",
        )
    return Response(jpeg, mimetype="image/jpeg", headers={"Cache-Control": CACHE_CONTROL})
