"""The embedding worker's tasks: ``geopin.embed`` (a job's photo in, its embedding stored for the
search task) and ``geopin.ingest`` (a share of a distributed ``geopin index add``).

``celery -A geopin_embedder.tasks worker -Q embed`` runs them; ``python -m geopin.worker embed``
adds the production options (docs/deployment.md). What they work with is built per process,
on first use (:class:`~geopin.per_process.PerProcess`); the model is loaded when the worker
starts, so readiness means "can embed now".
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from celery.exceptions import Ignore
from celery.signals import worker_init
from geopin.index import IndexVersions
from geopin.ingest.distributed import Ledger, ingest_share
from geopin.jobs import JobStore
from geopin.metrics import BATCH_SIZE, MODEL_LOAD
from geopin.model.allocator import return_large_blocks_when_freed
from geopin.model.embedder import Embedder
from geopin.per_process import PerProcess, process_settings
from geopin.pipeline import Notifier, embed_step
from geopin.presence import ModelPresence, keep_announcing
from geopin.queue import EMBED_TASK, app
from geopin.queue.job_task import JobTask
from geopin.queue.names import INGEST_TASK
from geopin.queue.retry import TRANSIENT_ERRORS
from geopin.wiring import (
    index_versions,
    job_store,
    notifier,
    presence,
    redis_client,
)

__all__ = ["app", "embed", "ingest"]


@dataclass(frozen=True)
class EmbedderParts:
    store: JobStore
    notifier: Notifier
    embedder: Embedder
    presence: ModelPresence


@PerProcess
def parts() -> EmbedderParts:
    settings = process_settings()
    return EmbedderParts(
        store=job_store(settings),
        notifier=notifier(settings, app),
        # One per process: the worker's task threads share its micro-batcher.
        embedder=Embedder(
            settings.model,
            settings.images,
            on_batch=BATCH_SIZE.observe,
            # Celery's time limits do not apply to the thread pool; this bound does.
            timeout_s=settings.celery.soft_time_limit_s,
        ),
        presence=presence(settings),
    )


@worker_init.connect(weak=False)
def load_model(**_: object) -> None:
    """Load the model before the first job arrives, and say so to the gateways."""
    return_large_blocks_when_freed()  # before the first photo: docs/runtime.md, "Memory"
    started = time.perf_counter()
    info = parts().embedder.info
    MODEL_LOAD.set(time.perf_counter() - started)
    keep_announcing(parts().presence, info)


@dataclass(frozen=True)
class IngestParts:
    ledger: Callable[[str], Ledger]  # a run's record of what became of its photos, by run ID
    versions: IndexVersions


@PerProcess
def ingest_parts() -> IngestParts:
    settings = process_settings()
    ledger = partial(Ledger, redis_client(settings), settings.redis.key_prefix)
    return IngestParts(ledger, index_versions(settings))


@app.task(name=EMBED_TASK, base=JobTask, parts=parts)
def embed(job_id: str) -> None:
    worker = parts()
    if not embed_step(job_id, worker.store, worker.embedder, worker.notifier):
        raise Ignore()  # the job ended here (rejected photo, expired): skip the search


@app.task(name=INGEST_TASK, autoretry_for=TRANSIENT_ERRORS, retry_backoff=True)
def ingest(
    run_id: str, target: str, photos: list[dict[str, Any]], options: dict[str, bool]
) -> None:
    share = ingest_parts()
    embedder = parts().embedder
    index = share.versions.open(target)
    ledger, settings = share.ledger(run_id), process_settings()
    ingest_share(ledger, photos, options, settings, embedder, embedder.info, index)
