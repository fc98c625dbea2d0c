"""``/v1/jobs``: submit a photo to locate, then poll the job.

A backend that does not answer raises its domain error (geopin.jobs.StoreUnavailable,
geopin.queue.QueueUnavailable) out of these views; the app answers it with 503 (problems.py).
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Response, jsonify, request, url_for
from geopin.geo import BadGeoFilter, GeoFilter, parse_geo_filter
from geopin.images import ImageRejected, UnsupportedImageType, validate_upload
from geopin.jobs import Job
from geopin.logs import bind_job
from geopin.queue import QueueUnavailable, enqueue_locate
from geopin.webhooks.delivery import NoSigningSecret
from geopin.webhooks.ssrf import CallbackRefused

from geopin_gateway.context import gateway
from geopin_gateway.problems import Problem
from geopin_gateway.security import current_key

log = logging.getLogger(__name__)

bp = Blueprint("jobs", __name__, url_prefix="/v1")

MAX_TOP_K = 100


def _read_upload() -> bytes:
    """The photo from a multipart field ``image``, or a raw body typed ``image/*``."""
    if request.mimetype == "multipart/form-data":
        file = request.files.get("image")
        if file is None:
            raise Problem(
                400, "missing-image", "No image", "send the photo in a form field named 'image'"
            )
        data: bytes = file.read()
    elif request.mimetype.startswith("image/"):
        data = request.get_data(cache=False)
    else:
        raise Problem(
            415,
            "unsupported-media-type",
            "Unsupported media type",
            f"send multipart/form-data with a field 'image', or a body typed image/*; "
            f"got {request.mimetype or 'no Content-Type'}",
        )
    limit = gateway().settings.images.max_upload_bytes
    if len(data) > limit:
        raise _too_large(limit)
    if not data:
        raise Problem(400, "empty-upload", "Empty upload", "the photo has no bytes")
    return data


def _too_large(limit: int) -> Problem:
    return Problem(
        413, "upload-too-large", "Upload too large", f"photos may be at most {limit} bytes"
    )


def _read_top_k() -> int:
    raw = request.form.get("top_k") or request.args.get("top_k")
    if raw is None:
        return gateway().settings.jobs.default_top_k
    try:
        top_k = int(raw)
    except ValueError:
        top_k = 0
    if not 1 <= top_k <= MAX_TOP_K:
        raise Problem(
            400, "invalid-top-k", "Invalid top_k", f"top_k must be an integer from 1 to {MAX_TOP_K}"
        )
    return top_k


def _read_geo_filter() -> GeoFilter | None:
    """An optional search area: ``bbox=south,west,north,east``, or ``center=lat,lon`` and
    ``radius_m``, as form fields or query parameters."""

    def field(name: str) -> str | None:
        return request.form.get(name) or request.args.get(name)

    try:
        return parse_geo_filter(field("bbox"), field("center"), field("radius_m"))
    except BadGeoFilter as exc:
        raise Problem(400, "invalid-geo-filter", "Invalid search area", str(exc)) from exc


def _read_callback_url(owner: str | None) -> str | None:
    """An optional ``callback_url``, refused now if the SSRF guard or a missing secret can tell."""
    url = request.form.get("callback_url") or request.args.get("callback_url")
    if url is None:
        return None
    try:
        gateway().notifier.check_callback(url, owner)
    except NoSigningSecret as exc:
        raise Problem(400, "webhooks-not-configured", "Webhooks not configured", str(exc)) from exc
    except CallbackRefused as exc:
        raise Problem(400, "callback-url-refused", "Callback URL refused", str(exc)) from exc
    return url


def _refuse_when_queue_is_full() -> None:
    limits = gateway().settings.limits
    if gateway().backpressure.full():
        raise Problem(
            503,
            "queue-full",
            "Too many jobs waiting",
            f"more than {limits.max_queued_jobs} jobs are waiting; try again later",
            headers={"Retry-After": str(limits.retry_after_s)},
        )


def _owner() -> str | None:
    key = current_key()
    return key.key_id if key is not None else None


def _owned_job(job_id: str) -> Job:
    """The job, if it exists and belongs to the caller's key; 404 alike for both cases."""
    job = gateway().store.get(job_id)
    if job is None or job.owner != _owner():
        raise Problem(
            404, "job-not-found", "Job not found", "no job with this ID, or it has expired"
        )
    return job


@bp.post("/jobs")
def submit_job() -> tuple[Response, int, dict[str, str]]:
    ctx = gateway()
    _refuse_when_queue_is_full()  # before reading 20 MiB that would be thrown away
    data = _read_upload()
    top_k = _read_top_k()
    area = _read_geo_filter()
    callback_url = _read_callback_url(_owner())
    try:
        validate_upload(data, ctx.settings.images.max_pixels)
    except UnsupportedImageType as exc:
        raise Problem(415, exc.code, "Unsupported image type", exc.detail) from exc
    except ImageRejected as exc:
        raise Problem(400, exc.code, "Rejected image", exc.detail) from exc
    job = ctx.store.create(
        data,
        top_k,
        owner=_owner(),
        callback_url=callback_url,
        geo_filter=area.to_dict() if area else None,
    )
    bind_job(job.job_id)  # this request's log lines from here on name the new job
    try:
        enqueue_locate(ctx.celery, job.job_id)
    except QueueUnavailable as exc:
        ctx.store.discard(job.job_id)  # no one should poll a job that will never run
        log.error("could not enqueue job %s: %s", job.job_id, exc)
        raise
    location = url_for("jobs.get_job", job_id=job.job_id)
    log.info("job %s queued (top_k=%d, %d bytes)", job.job_id, top_k, len(data))
    body = {"job_id": job.job_id, "status": job.status.value, "links": {"self": location}}
    return jsonify(body), 202, {"Location": location}


def _with_webhook(job: Job) -> dict[str, Any]:
    """The job as the API shows it, with its callback and every delivery attempt so far."""
    body = job.public()
    if job.callback_url is not None:
        delivery = gateway().notifier.delivery(job.job_id)
        body["callback_url"] = job.callback_url
        body["webhook"] = delivery.public() if delivery else {"status": "waiting-for-job"}
    return body


@bp.get("/jobs/<job_id>")
def get_job(job_id: str) -> Response:
    return jsonify(_with_webhook(_owned_job(job_id)))


@bp.post("/jobs/<job_id>/redeliver")
def redeliver(job_id: str) -> tuple[Response, int]:
    """Send the ended job's webhook again: a new round of attempts, with the same webhook-id."""
    job = _owned_job(job_id)
    if job.callback_url is None:
        raise Problem(409, "no-callback", "No callback", "this job was submitted without one")
    if not job.status.is_terminal:
        raise Problem(
            409, "job-not-finished", "Job not finished", "the webhook is sent when the job ends"
        )
    gateway().notifier.start(job)
    return jsonify(_with_webhook(job)), 202
