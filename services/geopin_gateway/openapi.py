"""The gateway's OpenAPI 3.1 description, written by hand next to the routes it describes.

Hand-written rather than generated, because the routes read multipart forms and raw image
bodies that no schema library infers; tests/unit/gateway/test_openapi.py fails when a route
is missing here, and schemathesis checks the live gateway's answers against it.
"""

from __future__ import annotations

from typing import Any

from geopin.settings import Settings

PROBLEM = "application/problem+json"

_CODES = {
    400: "The request is malformed: see `code` (e.g. `invalid-top-k`, `callback-url-refused`).",
    401: "No API key, or an unknown one (`missing-api-key`, `invalid-api-key`).",
    403: "The API key was revoked (`api-key-revoked`).",
    404: "No such job, it expired, or it belongs to another API key (`job-not-found`).",
    409: "The job cannot be redelivered yet (`job-not-finished`) or has no callback.",
    413: "The photo is larger than the upload limit (`upload-too-large`).",
    415: "Not an image, or not JPEG, PNG, WebP or HEIC/HEIF.",
    429: "Too many requests for this API key (`rate-limited`); see Retry-After.",
    503: "Redis is down (`queue-unavailable`) or too many jobs wait (`queue-full`); "
    "see Retry-After.",
}


def _problems(*statuses: int) -> dict[str, Any]:
    return {str(s): {"$ref": f"#/components/responses/Problem{s}"} for s in statuses}


def _json(schema: str, description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
    }


def _text_param(name: str, description: str, **schema: Any) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": {"type": "string", **schema},
    }


_SUBMIT_FIELDS: dict[str, dict[str, Any]] = {
    "top_k": {"type": "integer", "minimum": 1, "maximum": 100, "description": "Matches wanted."},
    "callback_url": {
        "type": "string",
        "format": "uri",
        "description": "POSTed a signed webhook when the job ends (docs/webhooks.md).",
    },
    "bbox": {"type": "string", "description": "Search area: south,west,north,east (degrees)."},
    "center": {"type": "string", "description": "Search area: lat,lon, with radius_m."},
    "radius_m": {"type": "string", "description": "Radius around center, metres."},
}

_IMAGE_KINDS = ("jpeg", "png", "webp", "heic", "heif")
_IMAGE_BODY = {"schema": {"type": "string", "contentMediaType": "application/octet-stream"}}

_SCHEMAS: dict[str, Any] = {
    "Problem": {
        "type": "object",
        "required": ["type", "title", "status", "detail", "code"],
        "properties": {
            "type": {"type": "string"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
            "code": {"type": "string", "description": "Stable, machine-readable."},
        },
    },
    "JobAccepted": {
        "type": "object",
        "required": ["job_id", "status", "links"],
        "properties": {
            "job_id": {"type": "string"},
            "status": {"const": "queued"},
            "links": {
                "type": "object",
                "required": ["self"],
                "properties": {"self": {"type": "string"}},
            },
        },
    },
    "Match": {
        "type": "object",
        "required": ["id", "lat", "lon", "score"],
        "properties": {
            "id": {"type": "string"},
            "lat": {"type": "number"},
            "lon": {"type": "number"},
            "score": {"type": "number"},
        },
    },
    "Attempt": {
        "type": "object",
        "required": ["round", "attempt", "at"],
        "properties": {
            "round": {"type": "integer"},
            "attempt": {"type": "integer"},
            "at": {"type": "string", "format": "date-time"},
            "status_code": {"type": "integer", "description": "The receiver's answer."},
            "error": {"type": "string", "description": "Why there was no answer."},
            "next_attempt_at": {"type": "string", "format": "date-time"},
        },
    },
    "Webhook": {
        "type": "object",
        "required": ["status"],
        "properties": {
            "webhook_id": {"type": "string", "description": "The same for every attempt."},
            "status": {
                "enum": ["waiting-for-job", "pending", "delivered", "failed", "disabled"],
            },
            "round": {"type": "integer", "description": "1, plus one per redelivery."},
            "attempts": {"type": "array", "items": {"$ref": "#/components/schemas/Attempt"}},
        },
    },
    "Job": {
        "type": "object",
        "required": ["job_id", "status", "created_at", "updated_at"],
        "properties": {
            "job_id": {"type": "string"},
            "status": {"enum": ["queued", "running", "succeeded", "failed"]},
            "created_at": {"type": "string", "format": "date-time"},
            "updated_at": {"type": "string", "format": "date-time"},
            "geo_filter": {"type": "object"},
            "result": {
                "type": "object",
                "properties": {
                    "matches": {"type": "array", "items": {"$ref": "#/components/schemas/Match"}},
                    "location": {"type": ["object", "null"]},
                    "timings": {"type": "object"},
                },
            },
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
            },
            "callback_url": {"type": "string"},
            "webhook": {"$ref": "#/components/schemas/Webhook"},
        },
    },
    "Status": {"type": "object", "properties": {"status": {"type": "string"}}},
}

_JOB_ID = {"name": "job_id", "in": "path", "required": True, "schema": {"type": "string"}}


def _paths() -> dict[str, Any]:
    submit_form = {
        "type": "object",
        "required": ["image"],
        "properties": {
            "image": {"type": "string", "contentMediaType": "application/octet-stream"},
            **_SUBMIT_FIELDS,
        },
    }
    query = [_text_param(name, f["description"]) for name, f in _SUBMIT_FIELDS.items()]
    return {
        "/v1/jobs": {
            "post": {
                "summary": "Submit a photo to locate",
                "description": "The photo as multipart field `image`, or as a raw `image/*` "
                "body with the other fields as query parameters.",
                "tags": ["jobs"],
                "parameters": query,
                "requestBody": {
                    "required": True,
                    "content": {
                        "multipart/form-data": {"schema": submit_form},
                        **{
                            f"image/{kind}": _IMAGE_BODY for kind in ("jpeg", "png", "webp", "heic")
                        },
                    },
                },
                "responses": {
                    "202": _json("JobAccepted", "Queued; poll links.self."),
                    **_problems(400, 401, 403, 413, 415, 429, 503),
                },
            }
        },
        "/v1/jobs/{job_id}": {
            "get": {
                "summary": "Read a job: status, result or error, webhook attempts",
                "tags": ["jobs"],
                "parameters": [_JOB_ID],
                "responses": {
                    "200": _json("Job", "The job."),
                    **_problems(401, 403, 404, 429),
                },
            }
        },
        "/v1/jobs/{job_id}/redeliver": {
            "post": {
                "summary": "Send an ended job's webhook again (same webhook-id)",
                "tags": ["jobs"],
                "parameters": [_JOB_ID],
                "responses": {
                    "202": _json("Job", "A new round of delivery attempts has started."),
                    **_problems(401, 403, 404, 409, 429, 503),
                },
            }
        },
        "/v1/references/{reference_id}/thumbnail": {
            "get": {
                "summary": "A reference photo's thumbnail (JPEG, longest side 256 px by default)",
                "tags": ["references"],
                "parameters": [{**_JOB_ID, "name": "reference_id"}],
                "responses": {
                    "200": {"description": "The JPEG.", "content": {"image/jpeg": _IMAGE_BODY}},
                    "404": {
                        "description": "No thumbnail kept for this ID (`thumbnail-not-found`).",
                        "content": {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}},
                    },
                    **_problems(401, 403, 429),
                },
            }
        },
        "/": {
            "get": {
                "summary": "A page to locate a photo from a browser",
                "tags": ["docs"],
                "security": [],
                "responses": {"200": {"description": "HTML.", "content": {"text/html": {}}}},
            }
        },
        "/healthz": {
            "get": {
                "summary": "Liveness: the process answers",
                "tags": ["probes"],
                "security": [],
                "responses": {"200": _json("Status", "Alive.")},
            }
        },
        "/readyz": {
            "get": {
                "summary": "Readiness: Redis, the index and a model can be used",
                "tags": ["probes"],
                "security": [],
                "responses": {
                    "200": _json("Status", "Ready."),
                    "503": _json("Status", "Not ready; `checks` names what is missing."),
                },
            }
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics: requests, latency, queue depths (for scrapers)",
                "tags": ["probes"],
                "security": [],
                "responses": {
                    "200": {"description": "Text format 0.0.4.", "content": {"text/plain": {}}}
                },
            }
        },
        "/openapi.json": {
            "get": {
                "summary": "This document",
                "tags": ["docs"],
                "security": [],
                "responses": {
                    "200": {"description": "OpenAPI 3.1.", "content": {"application/json": {}}}
                },
            }
        },
        "/docs": {
            "get": {
                "summary": "This document, for people",
                "tags": ["docs"],
                "security": [],
                "responses": {"200": {"description": "HTML.", "content": {"text/html": {}}}},
            }
        },
    }


def openapi_spec(settings: Settings) -> dict[str, Any]:
    """The document; /v1 operations need a Bearer key exactly when the deployment asks for one."""
    responses = {
        f"Problem{status}": {
            "description": description,
            "content": {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}},
            "headers": {"Retry-After": {"schema": {"type": "integer"}}}
            if status in (429, 503)
            else {},
        }
        for status, description in _CODES.items()
    }
    spec: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "GeoPin",
            "version": "1",
            "description": "Where was this street-level photo taken? Submit it, then poll the "
            "job or receive a signed webhook.",
        },
        "paths": _paths(),
        "components": {
            "schemas": _SCHEMAS,
            "responses": responses,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
    if settings.auth.enabled:
        spec["security"] = [{"bearer": []}]
    return spec
