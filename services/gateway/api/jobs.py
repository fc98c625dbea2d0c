"""``/v1/jobs``: submit a photo to locate, then poll the job."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, jsonify, request, url_for
from kombu.exceptions import OperationalError

from services.gateway.context import gateway
from services.gateway.problems import Problem
from shared.celery_app import enqueue_locate
from shared.images import ImageRejected, UnsupportedImageType, validate_upload

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


@bp.post("/jobs")
def submit_job() -> tuple[Response, int, dict[str, str]]:
    ctx = gateway()
    data = _read_upload()
    top_k = _read_top_k()
    try:
        validate_upload(data, ctx.settings.images.max_pixels)
    except UnsupportedImageType as exc:
        raise Problem(415, exc.code, "Unsupported image type", exc.detail) from exc
    except ImageRejected as exc:
        raise Problem(400, exc.code, "Rejected image", exc.detail) from exc
    job = ctx.store.create(data, top_k)
    try:
        enqueue_locate(ctx.celery, job.job_id)
    except OperationalError as exc:
        ctx.store.discard(job.job_id)
        log.error("could not enqueue job %s: %s", job.job_id, exc)
        raise Problem(
            503, "queue-unavailable", "Queue unavailable", "the job queue is down; try again soon"
        ) from exc
    location = url_for("jobs.get_job", job_id=job.job_id)
    log.info("job %s queued (top_k=%d, %d bytes)", job.job_id, top_k, len(data))
    body = {"job_id": job.job_id, "status": job.status.value, "links": {"self": location}}
    return jsonify(body), 202, {"Location": location}


@bp.get("/jobs/<job_id>")
def get_job(job_id: str) -> Response:
    job = gateway().store.get(job_id)
    if job is None:
        raise Problem(
            404, "job-not-found", "Job not found", "no job with this ID, or it has expired"
        )
    return jsonify(job.public())
