"""Distributed ingestion: photos split into Celery tasks for the embedding workers.

For sets too large for one machine: the CLI lists the photos, creates the target index and
turns refresh off, then sends ``geopin.ingest`` tasks of ``ingest.task_size`` photos to the
``embed`` queue; each worker runs the same :class:`~.run.Ingestion` on its share and records
every photo's outcome in a per-run ledger in Redis, which the CLI polls for its progress bar
and report. Photos are read from their paths, so workers must see the same files (a shared
volume or mount).

Tasks are acknowledged late and may run twice; that is harmless: documents are keyed by
reference ID, a second write of the same photo finds it indexed, and the ledger counts a
photo once however often it is recorded. Photos that repeat an earlier one's ID are refused
before the split (:func:`~.outcomes.first_of_each_id`), so no two tasks of a run write one
ID. Photos are sorted by place before they are split, so near-duplicates mostly meet inside
one task (two tasks running at once do not see each other's unrefreshed writes).
"""

from __future__ import annotations

import json
import math
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import redis
from celery import Celery

from geopin.geo import LatLon
from geopin.index import IndexOutdated, ModelMismatch, VectorIndex
from geopin.ingest.outcomes import Outcome
from geopin.ingest.run import BatchEmbedder, Ingestion, Options
from geopin.ingest.sources import Candidate
from geopin.jobs import StoreUnavailable
from geopin.model.info import ModelInfo
from geopin.outages import OutageTranslation
from geopin.queue.names import INGEST_TASK
from geopin.settings import Settings

LEDGER_TTL_S = 7 * 24 * 3600
_redis_outage = OutageTranslation(redis.RedisError, StoreUnavailable, "Redis")


def candidate_to_json(candidate: Candidate) -> dict[str, Any]:
    data = asdict(candidate)
    data["path"] = str(candidate.path)
    return data


def candidate_from_json(data: dict[str, Any]) -> Candidate:
    location = data.pop("location")
    return Candidate(
        **{**data, "path": Path(data["path"])},
        location=LatLon(**location) if location else None,
    )


class Ledger:
    """What became of each photo of one run, in Redis: counted once per photo."""

    def __init__(self, client: redis.Redis, key_prefix: str, run_id: str) -> None:
        self._redis = client
        base = f"{key_prefix}:ingest:{run_id}"
        self._done, self._counts, self._report = f"{base}:done", f"{base}:counts", f"{base}:report"

    @_redis_outage
    def record(self, outcome: Outcome) -> None:
        photo = f"{outcome.candidate.origin}\0{outcome.candidate.path}"
        if not self._redis.sadd(self._done, photo):
            return  # recorded by an earlier delivery of the same task
        with self._redis.pipeline() as pipe:
            pipe.hincrby(self._counts, outcome.status, 1)
            if outcome.refused:
                pipe.rpush(self._report, json.dumps(outcome.record()))
            for key in (self._done, self._counts, self._report):
                pipe.expire(key, LEDGER_TTL_S)
            pipe.execute()

    @_redis_outage
    def done(self) -> int:
        return int(self._redis.scard(self._done))  # type: ignore[arg-type]

    @_redis_outage
    def counts(self) -> Counter[str]:
        raw: dict[bytes, bytes] = self._redis.hgetall(self._counts)  # type: ignore[assignment]
        return Counter({k.decode(): int(v) for k, v in raw.items()})

    @_redis_outage
    def refused(self) -> list[dict[str, str]]:
        raw: list[bytes] = self._redis.lrange(self._report, 0, -1)  # type: ignore[assignment]
        return [json.loads(line) for line in raw]


def dispatch(
    app: Celery,
    target: str,
    candidates: Sequence[Candidate],
    task_size: int,
    options: Options,
    queue: str,
) -> str:
    """Send the photos as tasks; returns the run ID whose :class:`Ledger` tracks them."""
    run_id = uuid.uuid4().hex
    ordered = sorted(candidates, key=_place_order)
    for start in range(0, len(ordered), task_size):
        photos = [candidate_to_json(c) for c in ordered[start : start + task_size]]
        app.send_task(INGEST_TASK, args=(run_id, target, photos, asdict(options)), queue=queue)
    return run_id


def _place_order(candidate: Candidate) -> tuple[float, float, str]:
    """Photos in ~1 km cells, then by path: neighbours tend to land in the same task."""
    if candidate.location is None:
        return math.inf, math.inf, str(candidate.path)
    cell = 0.01  # degrees of latitude, about 1.1 km
    return (
        math.floor(candidate.location.lat / cell),
        math.floor(candidate.location.lon / cell),
        str(candidate.path),
    )


def ingest_share(
    ledger: Ledger,
    photos: list[dict[str, Any]],
    options: dict[str, bool],
    settings: Settings,
    embedder: BatchEmbedder,
    model: ModelInfo,
    index: VectorIndex,
) -> None:
    """A worker's part of a run: its photos ingested into ``index``, outcomes in the ledger.

    A worker whose model did not build the index, or an index that takes no more photos,
    records every photo as refused rather than failing the task, so the run still ends and
    its report says why.
    """
    candidates = [candidate_from_json(photo) for photo in photos]
    try:
        index.ensure(model.dim, model.model_id)
    except (ModelMismatch, IndexOutdated) as exc:
        for candidate in candidates:
            ledger.record(Outcome(candidate, exc.code, str(exc)))
        return
    ingestion = Ingestion(
        settings, embedder, index, model.model_id, ledger.record, Options(**options)
    )
    ingestion.run(candidates)
