"""The refusals of the gateway's /v1 routes in its OpenAPI document, from geopin.errors:
one response per status, naming its codes and when each happens, enumerating them in its
schema, with the headers those answers carry."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from geopin.errors import ErrorCode, error_code

PROBLEM = "application/problem+json"

# Every /v1 route: a key is checked (and looked up in Redis), and requests are counted.
_V1_CODES = (
    "missing-api-key",
    "invalid-api-key",
    "api-key-revoked",
    "rate-limited",
    "queue-unavailable",
)

_RETRY_AFTER = {
    "description": "Seconds to wait before trying again.",
    "required": True,
    "schema": {"type": "integer", "minimum": 1},
}
_HEADERS_BY_STATUS: dict[int, dict[str, Any]] = {
    401: {
        "WWW-Authenticate": {
            "description": "The scheme to use: Bearer.",
            "required": True,
            "schema": {"type": "string"},
        }
    },
    429: {"Retry-After": _RETRY_AFTER},
    503: {"Retry-After": _RETRY_AFTER},
}


def v1_problems(*codes: str) -> dict[str, Any]:
    """A /v1 route's refusals: one response per status, its codes enumerated in its schema."""
    by_status: dict[int, list[ErrorCode]] = defaultdict(list)
    for entry in map(error_code, (*codes, *_V1_CODES)):
        if entry.status is None:
            raise ValueError(f"{entry.code} is a failed job's code, never an answer of the API")
        by_status[entry.status].append(entry)
    return {str(status): _problem(status, by_status[status]) for status in sorted(by_status)}


def _problem(status: int, entries: list[ErrorCode]) -> dict[str, Any]:
    schema = {
        "allOf": [{"$ref": "#/components/schemas/Problem"}],
        "properties": {"status": {"const": status}, "code": {"enum": [e.code for e in entries]}},
    }
    return {
        "description": "; ".join(f"`{e.code}`: {e.when}" for e in entries) + ".",
        "content": {PROBLEM: {"schema": schema}},
        "headers": _HEADERS_BY_STATUS.get(status, {}),
    }
