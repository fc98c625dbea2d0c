"""The embed and search steps, with small in-memory fakes at the storage boundary."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from geopin.geo import BoundingBox, GeoFilter, LatLon
from geopin.images import UndecodableImage
from geopin.index import IndexMissing, Match, ModelMismatch
from geopin.jobs import Job, JobError, JobStatus, QueryVector, StatusChange, utc_now
from geopin.location import METHOD, calibrated
from geopin.pipeline import embed_step, fail_job, search_step
from geopin.settings import LocationSettings

LOCATION = LocationSettings()


class MemoryStore:
    def __init__(self) -> None:
        self.jobs: dict[str, Job] = {}
        self.uploads: dict[str, bytes] = {}
        self.vectors: dict[str, QueryVector] = {}

    def create(self, upload: bytes, top_k: int, geo_filter: dict[str, Any] | None = None) -> Job:
        job = Job(job_id=f"job-{len(self.jobs)}", top_k=top_k, geo_filter=geo_filter)
        self.jobs[job.job_id], self.uploads[job.job_id] = job, upload
        return job

    def get(self, job_id: str) -> Job | None:
        return self.jobs.get(job_id)

    def _move(self, job_id: str, status: JobStatus) -> Job:
        job = self.jobs[job_id]
        job.status = status
        job.history.append(StatusChange(status, utc_now()))
        return job

    def mark_running(self, job_id: str) -> Job | None:
        if self.jobs[job_id].status is JobStatus.QUEUED:
            self._move(job_id, JobStatus.RUNNING)
        return self.jobs[job_id]

    def succeed(self, job_id: str, result: dict[str, Any]) -> Job | None:
        if self.jobs[job_id].status.is_terminal:
            return None
        job = self._move(job_id, JobStatus.SUCCEEDED)
        job.result = result
        return job

    def fail(self, job_id: str, code: str, message: str) -> Job | None:
        if self.jobs[job_id].status.is_terminal:
            return None
        job = self._move(job_id, JobStatus.FAILED)
        job.error = JobError(code, message)
        return job

    def load_upload(self, job_id: str) -> bytes | None:
        return self.uploads.get(job_id)

    def delete_upload(self, job_id: str) -> None:
        self.uploads.pop(job_id, None)

    def save_vector(self, job_id: str, query: QueryVector) -> None:
        self.vectors[job_id] = replace(query, embedded_at=utc_now())

    def load_vector(self, job_id: str) -> QueryVector | None:
        return self.vectors.get(job_id)

    def delete_vector(self, job_id: str) -> None:
        self.vectors.pop(job_id, None)


class RecordingNotifier:
    """Records the jobs whose webhook the pipeline started."""

    def __init__(self) -> None:
        self.started: list[Job] = []

    def start(self, job: Job) -> None:
        self.started.append(job)


class CountingEmbedder:
    def __init__(self) -> None:
        self.calls = 0

    def embed(self, data: bytes) -> QueryVector:
        self.calls += 1
        if data == b"bad":
            raise UndecodableImage("the photo is truncated")
        return QueryVector("model-a", np.ones(4, dtype=np.float32) / 2)


class FixedIndex:
    def __init__(self, model_id: str = "model-a") -> None:
        self.model_id = model_id
        self.areas: list[GeoFilter | None] = []
        self.asked: list[int] = []

    def search(
        self, vector: np.ndarray, k: int, model_id: str, geo: GeoFilter | None = None
    ) -> list[Match]:
        self.areas.append(geo)
        self.asked.append(k)
        if model_id != self.model_id:
            raise ModelMismatch("index built by another model")
        return [Match(f"ref-{i}", LatLon(52.0 + i, 4.0), 1.0 - i / 10) for i in range(k)]


class MissingIndex(FixedIndex):
    """An index that was never built (no ``geopin index add`` yet)."""

    def search(
        self, vector: np.ndarray, k: int, model_id: str, geo: GeoFilter | None = None
    ) -> list[Match]:
        raise IndexMissing("no reference index exists yet")


def failure_code(store: MemoryStore, job_id: str) -> str | None:
    """The error code of the job if it failed; None in any other state."""
    job = store.jobs[job_id]
    return job.error.code if job.status is JobStatus.FAILED and job.error else None


def embedded_job_id(store: MemoryStore, notifier: RecordingNotifier, top_k: int = 3) -> str:
    """A job as the embed step leaves it: running, its vector stored for the search."""
    job = store.create(b"photo", top_k)
    assert embed_step(job.job_id, store, CountingEmbedder(), notifier)
    return job.job_id


@pytest.fixture
def notifier() -> RecordingNotifier:
    return RecordingNotifier()


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


def test_embedding_keeps_the_vector_and_deletes_the_photo(
    store: MemoryStore, notifier: RecordingNotifier
) -> None:
    job = store.create(b"photo", 3)
    assert embed_step(job.job_id, store, CountingEmbedder(), notifier)
    assert store.load_vector(job.job_id) is not None
    assert store.load_upload(job.job_id) is None
    assert store.jobs[job.job_id].status is JobStatus.RUNNING


def test_redelivered_embed_after_a_crash_reuses_the_stored_vector(
    store: MemoryStore, notifier: RecordingNotifier
) -> None:
    job = store.create(b"photo", 3)
    embedder = CountingEmbedder()
    embed_step(job.job_id, store, embedder, notifier)
    assert embed_step(job.job_id, store, embedder, notifier)  # delivered again: nothing recomputed
    assert embedder.calls == 1


def test_rejected_photo_fails_the_job_with_the_image_code(
    store: MemoryStore, notifier: RecordingNotifier
) -> None:
    job = store.create(b"bad", 3)
    assert not embed_step(job.job_id, store, CountingEmbedder(), notifier)
    failed = store.jobs[job.job_id]
    assert failed.status is JobStatus.FAILED
    assert failed.error == JobError("undecodable-image", "the photo is truncated")


def test_a_job_that_expired_before_embedding_is_skipped_without_embedding(
    store: MemoryStore, notifier: RecordingNotifier
) -> None:
    job = store.create(b"photo", 3)
    del store.jobs[job.job_id]  # its record outlived by the queued task
    embedder = CountingEmbedder()
    assert not embed_step(job.job_id, store, embedder, notifier)
    assert embedder.calls == 0
    assert notifier.started == []


def test_a_photo_that_expired_before_embedding_fails_the_job_as_upload_expired(
    store: MemoryStore, notifier: RecordingNotifier
) -> None:
    job = store.create(b"photo", 3)
    store.delete_upload(job.job_id)  # its upload TTL ran out while the job waited
    embedder = CountingEmbedder()
    assert not embed_step(job.job_id, store, embedder, notifier)
    assert embedder.calls == 0
    assert failure_code(store, job.job_id) == "upload-expired"
    assert notifier.started == [store.jobs[job.job_id]]


def test_an_embedding_that_expired_before_the_search_fails_the_job_as_embedding_missing(
    store: MemoryStore, notifier: RecordingNotifier
) -> None:
    job_id = embedded_job_id(store, notifier)
    store.delete_vector(job_id)  # its TTL ran out while the search task waited
    index = FixedIndex()
    search_step(job_id, store, index, LOCATION, notifier)
    assert failure_code(store, job_id) == "embedding-missing"
    assert index.areas == []  # never searched
    assert notifier.started == [store.jobs[job_id]]


def test_a_search_before_any_index_exists_fails_the_job_as_index_missing(
    store: MemoryStore, notifier: RecordingNotifier
) -> None:
    job_id = embedded_job_id(store, notifier)
    search_step(job_id, store, MissingIndex(), LOCATION, notifier)
    assert failure_code(store, job_id) == "index-missing"
    assert notifier.started == [store.jobs[job_id]]


def test_search_records_best_first_matches_and_consensus_location(
    store: MemoryStore, notifier: RecordingNotifier
) -> None:
    job_id = embedded_job_id(store, notifier)
    search_step(job_id, store, FixedIndex(), LOCATION, notifier)
    done = store.jobs[job_id]
    assert done.status is JobStatus.SUCCEEDED
    assert [m["id"] for m in done.result["matches"]] == ["ref-0", "ref-1", "ref-2"]
    # The matches lie a degree apart and score 0.1 apart: the best one wins alone.
    share = 1 / sum(math.exp(-i / 10 / LOCATION.temperature) for i in range(LOCATION.candidates))
    assert done.result["location"] == {
        "lat": 52.0,
        "lon": 4.0,
        "confidence": pytest.approx(calibrated(share, LOCATION), abs=1e-4),
        "radius_m": 25.0,
        "method": METHOD,
    }
    assert set(done.result["timings"]) == {"queued_s", "embed_s", "handoff_s", "search_s"}
    assert all(t >= 0 for t in done.result["timings"].values())
    assert store.load_vector(job_id) is None


@pytest.mark.parametrize("top_k", [1, 3, 10])
def test_the_location_is_the_same_however_many_matches_a_job_shows(
    store: MemoryStore, notifier: RecordingNotifier, top_k: int
) -> None:
    index = FixedIndex()
    job = store.create(b"photo", top_k)
    embed_step(job.job_id, store, CountingEmbedder(), notifier)
    search_step(job.job_id, store, index, LOCATION, notifier)
    result = store.jobs[job.job_id].result or {}
    assert len(result["matches"]) == top_k
    assert index.asked == [LOCATION.candidates]  # enough to estimate from, not just to show
    reference = MemoryStore()
    shown = reference.create(b"photo", LOCATION.candidates)
    embed_step(shown.job_id, reference, CountingEmbedder(), notifier)
    search_step(shown.job_id, reference, FixedIndex(), LOCATION, notifier)
    assert result["location"] == (reference.jobs[shown.job_id].result or {})["location"]


def test_second_search_delivery_never_changes_the_result(
    store: MemoryStore, notifier: RecordingNotifier
) -> None:
    job_id = embedded_job_id(store, notifier, top_k=2)
    search_step(job_id, store, FixedIndex(), LOCATION, notifier)
    first = dict(store.jobs[job_id].result or {})
    search_step(job_id, store, FixedIndex(), LOCATION, notifier)
    assert store.jobs[job_id].result == first
    assert [h.status for h in store.jobs[job_id].history].count(JobStatus.SUCCEEDED) == 1


def test_query_from_another_model_fails_the_job_clearly(
    store: MemoryStore, notifier: RecordingNotifier
) -> None:
    job_id = embedded_job_id(store, notifier, top_k=2)
    search_step(job_id, store, FixedIndex(model_id="model-b"), LOCATION, notifier)
    failed = store.jobs[job_id]
    assert failed.status is JobStatus.FAILED
    assert failed.error is not None
    assert failed.error.code == "model-mismatch"


def test_the_jobs_search_area_is_applied_inside_the_index_search(
    store: MemoryStore, notifier: RecordingNotifier
) -> None:
    area = BoundingBox(51.0, 3.0, 53.0, 5.0)
    job = store.create(b"photo", 2, geo_filter=area.to_dict())
    embed_step(job.job_id, store, CountingEmbedder(), notifier)
    index = FixedIndex()
    search_step(job.job_id, store, index, LOCATION, notifier)
    assert index.areas == [area]


def test_the_job_that_ends_starts_its_webhook_once_however_often_it_is_delivered(
    store: MemoryStore, notifier: RecordingNotifier
) -> None:
    job = store.create(b"photo", top_k=3)
    for _ in range(2):  # the second delivery of each step finds the job ended
        embed_step(job.job_id, store, CountingEmbedder(), notifier)
        search_step(job.job_id, store, FixedIndex(), LOCATION, notifier)
    assert [(j.job_id, j.status) for j in notifier.started] == [(job.job_id, JobStatus.SUCCEEDED)]


def test_a_job_failed_by_a_step_starts_its_webhook_once(
    store: MemoryStore, notifier: RecordingNotifier
) -> None:
    job = store.create(b"bad", top_k=3)
    for _ in range(2):
        embed_step(job.job_id, store, CountingEmbedder(), notifier)
    assert [(j.job_id, j.status) for j in notifier.started] == [(job.job_id, JobStatus.FAILED)]


def test_a_code_missing_from_the_catalogue_fails_the_job_as_internal_error(
    store: MemoryStore, notifier: RecordingNotifier, caplog: pytest.LogCaptureFixture
) -> None:
    job = store.create(b"photo", top_k=3)
    fail_job(store, notifier, job.job_id, "no-such-code", "a typo in a worker")
    failed = store.jobs[job.job_id]
    assert failed.error == JobError("internal-error", "a typo in a worker")
    assert "no-such-code" in caplog.text
    assert notifier.started == [failed]
