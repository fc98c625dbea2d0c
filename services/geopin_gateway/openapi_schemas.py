"""The component schemas of the gateway's OpenAPI document: what its answers hold.

Enumerations come from the code that produces them (job and webhook statuses, failed-job
codes), so the document cannot fall behind it.
"""

from __future__ import annotations

from typing import Any

from geopin.errors import failed_job_codes
from geopin.jobs import JobStatus
from geopin.webhooks.log import DeliveryStatus

from geopin_gateway.api.jobs import WAITING_FOR_JOB


def _object(required: list[str], **properties: Any) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": properties}


_NUMBER = {"type": "number"}
_TIME = {"type": "string", "format": "date-time"}
_LATITUDE = {"type": "number", "minimum": -90, "maximum": 90}
_LONGITUDE = {"type": "number", "minimum": -180, "maximum": 180}

_BBOX = _object(
    ["type", "south", "west", "north", "east"],
    type={"const": "bbox"},
    south=_LATITUDE,
    west=_LONGITUDE,
    north=_LATITUDE,
    east=_LONGITUDE,
)
_CIRCLE = _object(
    ["type", "lat", "lon", "radius_m"],
    type={"const": "circle"},
    lat=_LATITUDE,
    lon=_LONGITUDE,
    radius_m={"type": "number", "exclusiveMinimum": 0},
)
_LOCATION = _object(
    ["lat", "lon", "confidence", "radius_m", "method"],
    lat=_LATITUDE,
    lon=_LONGITUDE,
    confidence={
        "type": "number",
        "minimum": 0,
        "maximum": 1,
        "description": "Chance that the photo was taken within radius_m (docs/location.md).",
    },
    radius_m={"type": "number", "minimum": 0},
    method={"type": "string", "description": "How the estimate was made (docs/location.md)."},
)

_JOB = _object(
    ["job_id", "status", "created_at", "updated_at"],
    job_id={"type": "string"},
    status={"enum": [s.value for s in JobStatus]},
    created_at=_TIME,
    updated_at=_TIME,
    geo_filter={"oneOf": [_BBOX, _CIRCLE]},
    result=_object(
        ["matches", "location", "timings"],
        matches={"type": "array", "items": {"$ref": "#/components/schemas/Match"}},
        location={"oneOf": [_LOCATION, {"type": "null"}]},
        timings={"type": "object", "additionalProperties": _NUMBER},
    ),
    error=_object(
        ["code", "message"],
        code={"enum": [e.code for e in failed_job_codes()]},
        message={"type": "string"},
    ),
    callback_url={"type": "string"},
    webhook={"$ref": "#/components/schemas/Webhook"},
)


def _exactly_when(status: JobStatus, field: str) -> dict[str, Any]:
    present = {"required": [field]}
    return {
        "if": {"properties": {"status": {"const": status.value}}},
        "then": present,
        "else": {"not": present},
    }


SCHEMAS: dict[str, Any] = {
    "Problem": {
        **_object(
            ["type", "title", "status", "detail", "code"],
            type={"type": "string", "pattern": "^urn:geopin:problem:"},
            title={"type": "string"},
            status={"type": "integer"},
            detail={"type": "string"},
            code={"type": "string", "description": "Stable, machine-readable (see the README)."},
        ),
        "description": "RFC 9457 problem details.",
    },
    "JobAccepted": _object(
        ["job_id", "status", "links"],
        job_id={"type": "string"},
        status={"const": JobStatus.QUEUED.value},
        links=_object(["self"], self={"type": "string"}),
    ),
    "Match": _object(
        ["id", "lat", "lon", "score"],
        id={"type": "string", "description": "The reference's ID: its thumbnail's too."},
        lat=_LATITUDE,
        lon=_LONGITUDE,
        score=_NUMBER,
    ),
    "Attempt": _object(
        ["round", "attempt", "at"],
        round={"type": "integer", "minimum": 1},
        attempt={"type": "integer", "minimum": 1},
        at=_TIME,
        status_code={"type": "integer", "description": "The receiver's answer."},
        error={"type": "string", "description": "Why there was no answer."},
        next_attempt_at=_TIME,
    ),
    "Webhook": _object(
        ["status"],
        webhook_id={"type": "string", "description": "The same for every attempt."},
        status={"enum": [WAITING_FOR_JOB, *(s.value for s in DeliveryStatus)]},
        round={"type": "integer", "minimum": 1, "description": "1, plus one per redelivery."},
        attempts={"type": "array", "items": {"$ref": "#/components/schemas/Attempt"}},
    ),
    "Job": {
        **_JOB,
        # A result exactly when succeeded, an error exactly when failed, a webhook with a callback.
        "allOf": [
            _exactly_when(JobStatus.SUCCEEDED, "result"),
            _exactly_when(JobStatus.FAILED, "error"),
        ],
        "dependentRequired": {"callback_url": ["webhook"], "webhook": ["callback_url"]},
    },
    "Health": _object(["status"], status={"const": "ok"}),
    "Readiness": _object(
        ["status", "checks"],
        status={"enum": ["ready", "not-ready"]},
        checks={
            "type": "object",
            "description": "One per dependency; not ok names what is missing.",
            "additionalProperties": _object(
                ["ok"], ok={"type": "boolean"}, error={"type": "string"}
            ),
        },
        backends={"type": "object"},
        warning={"type": "string"},
    ),
}
