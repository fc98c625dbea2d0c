"""Every error code GeoPin shows its users, with its HTTP status, title and when it happens.

The gateway builds its problem documents from these entries and a failed job's ``error.code``
is one of them, so a code cannot exist without its entry here. The OpenAPI document lists them
per route, and the README's error tables are generated from them: ``python -m geopin.errors``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from geopin.images import ACCEPTED_MEDIA_TYPES
from geopin.top_k import TOP_K_MAX, TOP_K_MIN


@dataclass(frozen=True)
class ErrorCode:
    """One code: the API answers ``status`` with it (None: only a failed job can carry it)."""

    code: str
    title: str
    when: str
    status: int | None
    in_failed_jobs: bool = False


class UnknownErrorCode(LookupError):
    """A code with no entry in :data:`CATALOGUE`: add one before using it."""


_ACCEPTED = ", ".join(f"`{t}`" for t in ACCEPTED_MEDIA_TYPES)

_ENTRIES: Final = (
    ErrorCode(
        "bad-request",
        "Bad request",
        "the request cannot be read (e.g. the client hung up mid-upload)",
        400,
    ),
    ErrorCode("missing-image", "No image", "a multipart request without an `image` field", 400),
    ErrorCode("empty-upload", "Empty upload", "the photo has no bytes", 400),
    ErrorCode(
        "undecodable-image",
        "Undecodable image",
        "a corrupt or truncated photo, or one that declares an empty canvas",
        400,
        in_failed_jobs=True,
    ),
    ErrorCode(
        "image-too-many-pixels",
        "Too many pixels",
        "more pixels than `GEOPIN_IMAGES__MAX_PIXELS` (decompression bombs)",
        400,
        in_failed_jobs=True,
    ),
    ErrorCode(
        "invalid-top-k",
        "Invalid top_k",
        f"`top_k` is not an integer from {TOP_K_MIN} to {TOP_K_MAX}",
        400,
    ),
    ErrorCode(
        "invalid-geo-filter",
        "Invalid search area",
        "a malformed or out-of-range search area, or both kinds at once",
        400,
    ),
    ErrorCode(
        "callback-url-refused",
        "Callback URL refused",
        "a `callback_url` that is not http(s), or whose host resolves to a non-public address "
        "(SSRF guard)",
        400,
    ),
    ErrorCode(
        "webhooks-not-configured",
        "Webhooks not configured",
        "a `callback_url` with keys off and no `GEOPIN_WEBHOOKS__SECRET`",
        400,
    ),
    ErrorCode(
        "missing-api-key",
        "Missing API key",
        "keys are on and the request has no `Authorization: Bearer` key",
        401,
    ),
    ErrorCode("invalid-api-key", "Invalid API key", "keys are on and the key is not known", 401),
    ErrorCode("api-key-revoked", "API key revoked", "the key was revoked", 403),
    ErrorCode("not-found", "Not found", "no such route", 404),
    ErrorCode(
        "job-not-found",
        "Job not found",
        "an unknown or expired job, or one that belongs to another key",
        404,
    ),
    ErrorCode(
        "thumbnail-not-found",
        "Thumbnail not found",
        "no thumbnail kept for this reference (unknown, or indexed before thumbnails were kept)",
        404,
    ),
    ErrorCode(
        "method-not-allowed",
        "Method not allowed",
        "the route does not take this method; `Allow` lists those it does",
        405,
    ),
    ErrorCode(
        "job-not-finished",
        "Job not finished",
        "redelivery of a job that has not ended: its webhook is sent when it ends",
        409,
    ),
    ErrorCode("no-callback", "No callback", "redelivery of a job submitted without one", 409),
    ErrorCode(
        "upload-too-large",
        "Upload too large",
        "a photo larger than `GEOPIN_IMAGES__MAX_UPLOAD_BYTES`",
        413,
    ),
    ErrorCode(
        "unsupported-media-type",
        "Unsupported media type",
        f"a body that is neither `multipart/form-data` nor typed one of {_ACCEPTED}",
        415,
    ),
    ErrorCode(
        "unsupported-image-type",
        "Unsupported image type",
        f"a photo whose bytes are none of {_ACCEPTED} (GIF, AVIF, a PDF...)",
        415,
        in_failed_jobs=True,
    ),
    ErrorCode(
        "rate-limited",
        "Too many requests",
        "over the key's rate limit (per client address with keys off)",
        429,
    ),
    ErrorCode(
        "internal-error",
        "Internal error",
        "something failed that should not have (a bug); the details are in the logs, never in "
        "the answer",
        500,
        in_failed_jobs=True,
    ),
    ErrorCode(
        "queue-unavailable",
        "Queue unavailable",
        "the job store or the queue did not answer (Redis down, or an embedded SQLite file "
        "locked for longer than 2 s): the API answers with `Retry-After` and keeps no job it "
        "could not queue; a job ends with it when its worker still found them down after "
        "`GEOPIN_CELERY__OUTAGE_WINDOW_S`",
        503,
        in_failed_jobs=True,
    ),
    ErrorCode(
        "queue-full",
        "Too many jobs waiting",
        "more than `GEOPIN_LIMITS__MAX_QUEUED_JOBS` jobs wait",
        503,
    ),
    ErrorCode(
        "index-unavailable",
        "Index unavailable",
        "the reference index did not answer (Elasticsearch down, or the embedded index "
        "locked); a job ends with it when its worker still found it down after "
        "`GEOPIN_CELERY__OUTAGE_WINDOW_S`",
        503,
        in_failed_jobs=True,
    ),
    ErrorCode(
        "upload-expired",
        "Upload expired",
        "the photo expired (`GEOPIN_JOBS__UPLOAD_TTL_S`) before a worker could embed it",
        None,
        in_failed_jobs=True,
    ),
    ErrorCode(
        "embedding-missing",
        "Embedding missing",
        "the photo's embedding expired before the search",
        None,
        in_failed_jobs=True,
    ),
    ErrorCode(
        "model-mismatch",
        "Model mismatch",
        "the index was built by another model than the one that embedded the photo",
        None,
        in_failed_jobs=True,
    ),
    ErrorCode(
        "index-missing",
        "Index missing",
        "no reference index exists yet (`geopin index add`)",
        None,
        in_failed_jobs=True,
    ),
    ErrorCode(
        "timeout",
        "Timed out",
        "the job took longer than the worker's time limit",
        None,
        in_failed_jobs=True,
    ),
)

CATALOGUE: Final[Mapping[str, ErrorCode]] = {entry.code: entry for entry in _ENTRIES}


def error_code(code: str) -> ErrorCode:
    """The catalogue's entry for ``code``; :class:`UnknownErrorCode` when there is none."""
    try:
        return CATALOGUE[code]
    except KeyError:
        raise UnknownErrorCode(f"{code!r} is not in geopin.errors' catalogue") from None


def api_codes() -> tuple[ErrorCode, ...]:
    """The codes the API answers with, by status."""
    answers = [e for e in _ENTRIES if e.status is not None]
    return tuple(sorted(answers, key=lambda e: e.status or 0))


def failed_job_codes() -> tuple[ErrorCode, ...]:
    return tuple(e for e in _ENTRIES if e.in_failed_jobs)


def error_reference() -> str:
    """The README's error tables: the API's problem codes, then a failed job's codes."""
    rows = ["| Status | `code` | When |", "| --- | --- | --- |"]
    rows += [f"| {e.status} | `{e.code}` | {e.when} |" for e in api_codes()]
    rows += ["", "A failed job's `error.code` is one of:", ""]
    rows += ["| `code` | When |", "| --- | --- |"]
    rows += [f"| `{e.code}` | {e.when} |" for e in failed_job_codes()]
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    print(error_reference(), end="")
