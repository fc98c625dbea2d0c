"""The two steps of locating a photo, as plain functions the Celery tasks call.

Both steps are idempotent by job ID: a task delivered again after its worker
died finds the job's state in the store and carries on from there, and the
store keeps only the first result (see :mod:`geopin.jobs`). Whichever call ends
a job then, in plain sight, does what follows a job's end (:func:`job_ended`).
"""

from __future__ import annotations

import logging
import time
from typing import Protocol

from geopin.errors import CATALOGUE
from geopin.geo import geo_filter_from_dict
from geopin.images import ImageRejected
from geopin.index import IndexMissing, ModelMismatch, VectorIndex
from geopin.jobs import Job, JobStatus, JobStore, QueryVector, seconds_between, utc_now
from geopin.location import consensus, matches_to_fetch
from geopin.metrics import JOBS_ENDED
from geopin.settings import LocationSettings

log = logging.getLogger(__name__)


class PhotoEmbedder(Protocol):
    def embed(self, data: bytes) -> QueryVector: ...


class Notifier(Protocol):
    """Starts an ended job's webhook (:class:`geopin.webhooks.delivery.Notifier`)."""

    def start(self, job: Job) -> object: ...


def job_ended(job: Job, notifier: Notifier) -> None:
    """What follows a job's end, once per job: count it, then start its webhook (if any).

    Callers invoke it only with the job a store's ``succeed`` or ``fail`` returned, which the
    compare-and-set gives to exactly one caller, so a redelivered task never sends twice.
    """
    JOBS_ENDED.labels(job.status.value, job.error.code if job.error else "").inc()
    notifier.start(job)


def fail_job(store: JobStore, notifier: Notifier, job_id: str, code: str, message: str) -> None:
    """End the job as failed and, if this call ended it, follow up on its end.

    ``code`` is one of geopin.errors' failed-job codes; any other is a bug, recorded as
    ``internal-error`` so that clients only ever see documented codes.
    """
    entry = CATALOGUE.get(code)
    if entry is None or not entry.in_failed_jobs:
        log.error("job %s failed with %r, not a failed job's code in geopin.errors", job_id, code)
        code = "internal-error"
    if ended := store.fail(job_id, code, message):
        job_ended(ended, notifier)


def embed_step(job_id: str, store: JobStore, embedder: PhotoEmbedder, notifier: Notifier) -> bool:
    """Embed the job's upload and keep the vector; False when there is nothing to search."""
    job = store.get(job_id)
    if job is None:
        log.warning("job %s expired before it was embedded", job_id)
        return False
    if job.status.is_terminal:
        return False
    if store.load_vector(job_id) is not None:
        return True  # embedded by an earlier delivery that died before acknowledging
    store.mark_running(job_id)
    upload = store.load_upload(job_id)
    if upload is None:
        fail_job(
            store,
            notifier,
            job_id,
            "upload-expired",
            "the photo expired before a worker could embed it",
        )
        return False
    try:
        query = embedder.embed(upload)
    except ImageRejected as exc:
        fail_job(store, notifier, job_id, exc.code, exc.detail)
        return False
    store.save_vector(job_id, query)
    store.delete_upload(job_id)  # the photo is not kept once it has served its purpose
    return True


def search_step(
    job_id: str,
    store: JobStore,
    index: VectorIndex,
    location: LocationSettings,
    notifier: Notifier,
) -> None:
    """Find the job's nearest references (inside its search area, if it has one) and record
    the ``top_k`` best with the location estimate (computed from its own number of matches).
    """
    job = store.get(job_id)
    if job is None or job.status.is_terminal:
        return
    query = store.load_vector(job_id)
    if query is None:
        fail_job(
            store,
            notifier,
            job_id,
            "embedding-missing",
            "the photo's embedding expired before the search",
        )
        return
    started_at, started = utc_now(), time.perf_counter()
    try:
        area = geo_filter_from_dict(job.geo_filter) if job.geo_filter else None
        depth = matches_to_fetch(job.top_k, location)
        matches = index.search(query.vector, depth, query.model_id, geo=area)
    except (IndexMissing, ModelMismatch) as exc:
        fail_job(store, notifier, job_id, exc.code, str(exc))  # unlike IndexUnavailable, final
        return
    estimate = consensus(matches, location)  # from its own candidates, whatever top_k shows
    running_at = next(h.at for h in job.history if h.status is JobStatus.RUNNING)
    timings = {
        "queued_s": seconds_between(job.created_at, running_at),
        "embed_s": round(query.embed_s, 4),
        "handoff_s": seconds_between(query.embedded_at or started_at, started_at),
        "search_s": round(time.perf_counter() - started, 4),
    }
    result = {
        "matches": [m.public() for m in matches[: job.top_k]],
        "location": estimate.public() if estimate else None,
        "timings": timings,
    }
    if ended := store.succeed(job_id, result):
        job_ended(ended, notifier)
    store.delete_vector(job_id)  # a photo's embedding is personal data too
