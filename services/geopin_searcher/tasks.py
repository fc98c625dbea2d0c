"""The search worker's task ``geopin.search``: a job's embedding in, its nearest references
recorded as the result.

``celery -A geopin_searcher.tasks worker -Q search`` runs it; ``python -m geopin.worker search``
adds the production options (docs/deployment.md). What it works with is built per process, on
first use (:class:`~geopin.per_process.PerProcess`).
"""

from __future__ import annotations

from dataclasses import dataclass

from geopin.index import VectorIndex
from geopin.jobs import JobStore
from geopin.per_process import PerProcess, process_settings
from geopin.pipeline import Notifier, search_step
from geopin.queue import SEARCH_TASK, app
from geopin.queue.job_task import JobTask
from geopin.settings import LocationSettings
from geopin.wiring import job_store, notifier, vector_index

__all__ = ["app", "search"]


@dataclass(frozen=True)
class SearcherParts:
    store: JobStore
    notifier: Notifier
    index: VectorIndex
    location: LocationSettings


@PerProcess
def parts() -> SearcherParts:
    settings = process_settings()
    return SearcherParts(
        job_store(settings), notifier(settings, app), vector_index(settings), settings.location
    )


@app.task(name=SEARCH_TASK, base=JobTask, parts=parts)
def search(job_id: str) -> None:
    worker = parts()
    search_step(job_id, worker.store, worker.index, worker.location, worker.notifier)
