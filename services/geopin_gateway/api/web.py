"""``/``: a page to try GeoPin from a browser.

The page is static HTML plus one bundled script and style sheet (services/geopin_gateway/web/
builds them into static/); it calls the same /v1 API as any client. Settings reach the
script as data attributes, so the page needs no inline script.
"""

from __future__ import annotations

from flask import Blueprint, render_template
from geopin.images import ACCEPTED_MEDIA_TYPES
from geopin.top_k import TOP_K_MAX, TOP_K_MIN

from geopin_gateway.context import gateway

bp = Blueprint("web", __name__)


@bp.get("/")
def index() -> str:
    settings = gateway().settings
    return render_template(
        "index.html",
        tile_url=settings.web.tile_url or "",
        tile_attribution=settings.web.tile_attribution,
        auth_enabled=settings.auth.enabled,
        max_upload_bytes=settings.images.max_upload_bytes,
        accepted_types=",".join(ACCEPTED_MEDIA_TYPES),
        top_k_min=TOP_K_MIN,
        top_k_max=TOP_K_MAX,
        default_top_k=settings.jobs.default_top_k,
    )
