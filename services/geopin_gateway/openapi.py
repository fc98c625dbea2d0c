"""The gateway's OpenAPI 3.1 description, written by hand next to the routes it describes.

Hand-written rather than generated, because the routes read multipart forms and raw image
bodies that no schema library infers. Its facts are not restated by hand: limits come from
the settings, top_k bounds from geopin.top_k, image types from geopin.images, each route's
problem codes (status, title, meaning) from geopin.errors. Links lead from a submitted job to
its routes, and from a job's matches to their thumbnails, so that a client (or schemathesis'
stateful phase) can follow them. tests/unit/gateway/test_openapi.py fails when a route is
missing here; schemathesis checks the live gateway's answers against it.
"""

from __future__ import annotations

from typing import Any

from geopin.geo import MAX_RADIUS_M, decimals_pattern
from geopin.images import ACCEPTED_MEDIA_TYPES
from geopin.jobs import JOB_ID_PATTERN
from geopin.settings import Settings
from geopin.top_k import TOP_K_MAX, TOP_K_MIN

from geopin_gateway.openapi_problems import v1_problems
from geopin_gateway.openapi_schemas import SCHEMAS

# What a submission can be refused for, beyond what every /v1 route can.
_SUBMIT_CODES = (
    "bad-request",
    "missing-image",
    "empty-upload",
    "undecodable-image",
    "image-too-many-pixels",
    "invalid-top-k",
    "invalid-geo-filter",
    "callback-url-refused",
    "webhooks-not-configured",
    "upload-too-large",
    "unsupported-media-type",
    "unsupported-image-type",
    "queue-full",
)


_THUMBNAIL_HEADERS = {
    name: {"required": True, "schema": {"type": "string"}} for name in ("Cache-Control", "ETag")
}


def _json(schema: str, description: str, **extra: Any) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
        **extra,
    }


def _submit_fields() -> dict[str, dict[str, Any]]:
    """The optional fields of a submission, as form fields or query parameters."""

    def decimals(count: int, description: str) -> dict[str, Any]:
        return {
            "type": "string",
            "pattern": f"^{decimals_pattern(count)}$",
            "description": description,
        }

    return {
        "top_k": {
            "type": "integer",
            "minimum": TOP_K_MIN,
            "maximum": TOP_K_MAX,
            "description": "Matches wanted (default GEOPIN_JOBS__DEFAULT_TOP_K).",
        },
        "callback_url": {
            "type": "string",
            "format": "uri",
            "pattern": "^https?://",
            "description": "POSTed a signed webhook when the job ends (docs/webhooks.md); its "
            "host must resolve to public addresses only.",
        },
        "bbox": decimals(
            4, "Search area: south,west,north,east in degrees (west > east crosses 180°)."
        ),
        "center": decimals(2, "Search area: lat,lon in degrees, with radius_m."),
        "radius_m": decimals(
            1, f"Radius around center, metres: above 0, at most {MAX_RADIUS_M / 1000:,.0f} km."
        ),
    }


def _submit(settings: Settings) -> dict[str, Any]:
    limits = settings.images
    image = {
        "type": "string",
        "format": "binary",
        "minLength": 1,
        "maxLength": limits.max_upload_bytes,
        "description": f"The photo: {', '.join(ACCEPTED_MEDIA_TYPES)}, at most "
        f"{limits.max_upload_bytes} bytes and {limits.max_pixels} pixels.",
    }
    fields = _submit_fields()
    form = {"type": "object", "required": ["image"], "properties": {"image": image, **fields}}
    job = "$response.body#/job_id"
    return {
        "operationId": "submitJob",
        "summary": "Submit a photo to locate",
        "description": "The photo as multipart field `image`, or as the body typed with its "
        "media type. The other fields go as form fields or query parameters; sent both ways, "
        "both are checked and the form's are used.",
        "tags": ["jobs"],
        "parameters": [
            {
                "name": name,
                "in": "query",
                "required": False,
                "description": schema["description"],
                "schema": schema,
            }
            for name, schema in fields.items()
        ],
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": form,
                    "encoding": {"image": {"contentType": ", ".join(ACCEPTED_MEDIA_TYPES)}},
                },
                **{media_type: {"schema": image} for media_type in ACCEPTED_MEDIA_TYPES},
            },
        },
        "responses": {
            "202": _json(
                "JobAccepted",
                "Queued; poll links.self (the Location header).",
                headers={
                    "Location": {
                        "description": "The job's URL.",
                        "required": True,
                        "schema": {"type": "string"},
                    }
                },
                links={
                    "GetJob": {"operationId": "getJob", "parameters": {"job_id": job}},
                    "GetJobAtLocation": {
                        "operationId": "getJob",
                        "parameters": {
                            "job_id": "$response.header.Location#regex:/v1/jobs/([^/?#]+)$"
                        },
                    },
                    "RedeliverJob": {
                        "operationId": "redeliverWebhook",
                        "parameters": {"job_id": job},
                    },
                },
            ),
            **v1_problems(*_SUBMIT_CODES),
        },
    }


_JOB_ID = {
    "name": "job_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": f"^{JOB_ID_PATTERN}$"},
}
_JOB_LINKS = {
    "PollJob": {
        "operationId": "getJob",
        "parameters": {"job_id": "$response.body#/job_id"},
        "description": "Until it has ended.",
    },
    "ThumbnailOfBestMatch": {
        "operationId": "getThumbnail",
        "parameters": {"reference_id": "$response.body#/result/matches/0/id"},
        "description": "Once succeeded: the best match's reference photo.",
    },
    "RedeliverJob": {
        "operationId": "redeliverWebhook",
        "parameters": {"job_id": "$response.body#/job_id"},
    },
}


def _plain(summary: str, tag: str, response: dict[str, Any]) -> dict[str, Any]:
    """A GET that needs no key: probes and documents."""
    return {"get": {"summary": summary, "tags": [tag], "security": [], "responses": response}}


def _paths(settings: Settings) -> dict[str, Any]:
    html = {"200": {"description": "HTML.", "content": {"text/html": {}}}}
    return {
        "/v1/jobs": {"post": _submit(settings)},
        "/v1/jobs/{job_id}": {
            "get": {
                "operationId": "getJob",
                "summary": "Read a job: status, result or error, webhook attempts",
                "tags": ["jobs"],
                "parameters": [_JOB_ID],
                "responses": {
                    "200": _json("Job", "The job.", links=_JOB_LINKS),
                    **v1_problems("job-not-found"),
                },
            }
        },
        "/v1/jobs/{job_id}/redeliver": {
            "post": {
                "operationId": "redeliverWebhook",
                "summary": "Send an ended job's webhook again (same webhook-id)",
                "tags": ["jobs"],
                "parameters": [_JOB_ID],
                "responses": {
                    "202": _json(
                        "Job", "A new round of delivery attempts has started.", links=_JOB_LINKS
                    ),
                    **v1_problems("job-not-found", "job-not-finished", "no-callback"),
                },
            }
        },
        "/v1/references/{reference_id}/thumbnail": {
            "get": {
                "operationId": "getThumbnail",
                "summary": "A reference photo's thumbnail: a JPEG of longest side "
                f"{settings.thumbnails.max_side} px at most",
                "tags": ["references"],
                "parameters": [
                    {
                        "name": "reference_id",
                        "in": "path",
                        "required": True,
                        "description": "A match's `id`.",
                        "schema": {"type": "string"},
                    },
                    {
                        "name": "If-None-Match",
                        "in": "header",
                        "required": False,
                        "description": "The `ETag` of the copy the client holds.",
                        "schema": {"type": "string"},
                    },
                ],
                "responses": {
                    "200": {
                        "description": "The JPEG. It changes when the reference is replaced "
                        "under its ID: `Cache-Control: no-cache` makes clients revalidate it.",
                        "content": {
                            "image/jpeg": {"schema": {"type": "string", "format": "binary"}}
                        },
                        "headers": _THUMBNAIL_HEADERS,
                    },
                    "304": {
                        "description": "The client's copy (`If-None-Match`) is still this one.",
                        "headers": _THUMBNAIL_HEADERS,
                    },
                    **v1_problems("thumbnail-not-found"),
                },
            }
        },
        "/": _plain("A page to locate a photo from a browser", "docs", html),
        "/healthz": _plain(
            "Liveness: the process answers", "probes", {"200": _json("Health", "Alive.")}
        ),
        "/readyz": _plain(
            "Readiness: the job store, the queue, the index and a model can be used",
            "probes",
            {
                "200": _json("Readiness", "Ready."),
                "503": _json("Readiness", "Not ready; `checks` names what is missing."),
            },
        ),
        "/metrics": _plain(
            "Prometheus metrics: requests, latency, queue depths (for scrapers)",
            "probes",
            {"200": {"description": "Text format 0.0.4.", "content": {"text/plain": {}}}},
        ),
        "/openapi.json": _plain(
            "This document",
            "docs",
            {"200": {"description": "OpenAPI 3.1.", "content": {"application/json": {}}}},
        ),
        "/docs": _plain("This document, for people", "docs", html),
    }


def openapi_spec(settings: Settings) -> dict[str, Any]:
    """The document; /v1 operations need a Bearer key exactly when the deployment asks for one."""
    spec: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "GeoPin",
            "version": "1",
            "description": "Where was this street-level photo taken? Submit it, then poll the "
            "job or receive a signed webhook.",
        },
        "paths": _paths(settings),
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
    if settings.auth.enabled:
        spec["security"] = [{"bearer": []}]
    return spec
