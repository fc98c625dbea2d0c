"""``/``: a page to try GeoPin from a browser.

The page is static HTML plus one bundled script and style sheet (services/geopin_gateway/web/
builds them into static/); it calls the same /v1 API as any client. Settings reach the
script as data attributes, so the page needs no inline script.
"""

from __future__ import annotations

from flask import Blueprint, render_template

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
    )
