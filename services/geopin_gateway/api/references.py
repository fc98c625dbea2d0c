"""``/v1/references``: what the index holds about a reference photo, for people to see."""

from __future__ import annotations

import hashlib

from flask import Blueprint, Response, request

from geopin_gateway.context import gateway
from geopin_gateway.problems import Problem
from geopin_gateway.security import limiter, read_rate

bp = Blueprint("references", __name__, url_prefix="/v1")

# A reference photo can be replaced under its ID: browsers keep the picture but ask each time
# whether it changed (its ETag, answered 304 when not), so a replaced one never shows stale.
CACHE_CONTROL = "private, no-cache"


@bp.get("/references/<reference_id>/thumbnail")
@limiter.limit(read_rate)
def thumbnail(reference_id: str) -> Response:
    jpeg = gateway().thumbnails.get(reference_id)
    if jpeg is None:
        raise Problem.of(
            "thumbnail-not-found",
            "no thumbnail for this reference (unknown, or indexed before thumbnails were kept)",
        )
    response = Response(jpeg, mimetype="image/jpeg", headers={"Cache-Control": CACHE_CONTROL})
    response.set_etag(hashlib.sha256(jpeg).hexdigest()[:32])
    response.make_conditional(request)  # a 304 without the picture when the client has it
    return response
