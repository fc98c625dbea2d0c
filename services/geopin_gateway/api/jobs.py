"""``/v1/jobs``: submit a photo to locate, then poll the job.

A backend that does not answer raises its domain error (geopin.jobs.StoreUnavailable,
geopin.queue.QueueUnavailable) out of these views; the app answers it with 503 (problems.py).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Blueprint, Response, jsonify, request, url_for
from geopin.geo import BadGeoFilter, GeoFilter, parse_geo_filter
from geopin.images import ACCEPTED_MEDIA_TYPES, ImageRejected, validate_upload
from geopin.jobs import Job
from geopin.logs import bind_job
from geopin.queue import QueueUnavailable
from geopin.top_k import TOP_K_MAX, TOP_K_MIN
from geopin.webhooks.delivery import NoSigningSecret
from geopin.webhooks.ssrf import CallbackRefused
from werkzeug.datastructures import MultiDict

from geopin_gateway.context import gateway
from geopin_gateway.problems import Problem
from geopin_gateway.security import current_key, limiter, read_rate, submit_rate

log = logging.getLogger(__name__)

bp = Blueprint("jobs", __name__, url_prefix="/v1")

T = TypeVar("T")
Fields = MultiDict[str, str]

# The webhook of a job with a callback that has not ended: no delivery round is open yet.
WAITING_FOR_JOB = "waiting-for-job"


def _read_upload() -> bytes:
    """The photo from a multipart field ``image``, or a body typed one of the accepted types."""
    if request.mimetype == "multipart/form-data":
        file = request.files.get("image")
        if file is None:
            raise Problem.of("missing-image", "send the photo in a form field named 'image'")
        data: bytes = file.read()
    elif request.mimetype in ACCEPTED_MEDIA_TYPES:
        data = request.get_data(cache=False)
    else:
        raise Problem.of(
            "unsupported-media-type",
            f"send multipart/form-data with a field 'image', or a body typed one of "
            f"{', '.join(ACCEPTED_MEDIA_TYPES)}; got {request.mimetype or 'no Content-Type'}",
        )
    limit = gateway().settings.images.max_upload_bytes
    if len(data) > limit:
        raise Problem.of("upload-too-large", f"photos may be at most {limit} bytes")
    if not data:
        raise Problem.of("empty-upload", "the photo has no bytes")
    return data


def _form_or_query(read: Callable[[Fields], T]) -> T:
    """Fields come as form fields or query parameters: both are checked, the form's win."""
    from_form, from_query = read(request.form), read(request.args)
    return from_form if from_form is not None else from_query


def _top_k(fields: Fields) -> int | None:
    raw = fields.get("top_k")
    if raw is None:
        return None
    # Plain ASCII digits only, as the OpenAPI document's integer says (int() takes " +1_0").
    top_k = int(raw) if re.fullmatch("[0-9]{1,9}", raw) else None
    if top_k is None or not TOP_K_MIN <= top_k <= TOP_K_MAX:
        raise Problem.of(
            "invalid-top-k", f"top_k must be an integer from {TOP_K_MIN} to {TOP_K_MAX}"
        )
    return top_k


def _geo_filter(fields: Fields) -> GeoFilter | None:
    """An optional search area: ``bbox=south,west,north,east``, or ``center=lat,lon`` and
    ``radius_m``."""
    try:
        return parse_geo_filter(fields.get("bbox"), fields.get("center"), fields.get("radius_m"))
    except BadGeoFilter as exc:
        raise Problem.of("invalid-geo-filter", str(exc)) from exc


def _callback_url(fields: Fields) -> str | None:
    """An optional ``callback_url``, refused now if the SSRF guard or a missing secret can tell."""
    url = fields.get("callback_url")
    if url is None:
        return None
    try:
        gateway().notifier.check_callback(url, _owner())
    except NoSigningSecret as exc:
        raise Problem.of("webhooks-not-configured", str(exc)) from exc
    except CallbackRefused as exc:
        raise Problem.of("callback-url-refused", str(exc)) from exc
    return url


def _refuse_when_queue_is_full() -> None:
    limits = gateway().settings.limits
    if gateway().backpressure.full():
        raise Problem.of(
            "queue-full",
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
        raise Problem.of("job-not-found", "no job with this ID, or it has expired")
    return job


@bp.post("/jobs")
@limiter.limit(submit_rate)
def submit_job() -> tuple[Response, int, dict[str, str]]:
    ctx = gateway()
    _refuse_when_queue_is_full()  # before reading 20 MiB that would be thrown away
    data = _read_upload()
    asked_top_k = _form_or_query(_top_k)
    top_k = asked_top_k if asked_top_k is not None else ctx.settings.jobs.default_top_k
    area = _form_or_query(_geo_filter)
    callback_url = _form_or_query(_callback_url)
    try:
        validate_upload(data, ctx.settings.images.max_pixels)
    except ImageRejected as exc:
        raise Problem.of(exc.code, exc.detail) from exc
    job = ctx.store.create(
        data,
        top_k,
        owner=_owner(),
        callback_url=callback_url,
        geo_filter=area.to_dict() if area else None,
    )
    bind_job(job.job_id)  # this request's log lines from here on name the new job
    try:
        ctx.queue_job(job.job_id)
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
        body["webhook"] = delivery.public() if delivery else {"status": WAITING_FOR_JOB}
    return body


@bp.get("/jobs/<job_id>")
@limiter.limit(read_rate)
def get_job(job_id: str) -> Response:
    return jsonify(_with_webhook(_owned_job(job_id)))


@bp.post("/jobs/<job_id>/redeliver")
@limiter.limit(submit_rate)
def redeliver(job_id: str) -> tuple[Response, int]:
    """Send the ended job's webhook again: a new round of attempts, with the same webhook-id."""
    job = _owned_job(job_id)
    if job.callback_url is None:
        raise Problem.of("no-callback", "this job was submitted without one")
    if not job.status.is_terminal:
        raise Problem.of("job-not-finished", "the webhook is sent when the job ends")
    gateway().notifier.start(job)
    return jsonify(_with_webhook(job)), 202
