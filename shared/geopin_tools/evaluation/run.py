"""The two ways ``geopin eval`` gets each query's nearest database photos.

* In-process: every photo embedded here, exact search with
  :func:`~geopin_tools.evaluation.recall.exact_ranking`;
  it measures the model alone.
* Through the service: the database indexed with the ingestion pipeline (quality control and
  de-duplication off, so every database photo is there), then each query submitted as a real
  job over HTTP; it measures what users get, approximate kNN, rescoring and all.

Both compute the location estimate as the service does, from ``GEOPIN_LOCATION__CANDIDATES``
matches whatever number recall looks at.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt
from geopin.client import GeoPinClient
from geopin.geo import LatLon
from geopin.images import ImageRejected, decode_image, resized_for_model, to_model_input
from geopin.index import Match, VectorIndex
from geopin.ingest.outcomes import Outcome
from geopin.ingest.run import BatchEmbedder, Ingestion, Options
from geopin.ingest.sources import Candidate
from geopin.location import consensus, matches_to_fetch
from geopin.settings import Settings

from geopin_tools.evaluation.recall import (
    RECALL_AT,
    DatasetError,
    EvaluationError,
    Ranking,
    VprDataset,
    VprImage,
    exact_ranking,
)

TOP_K = max(RECALL_AT)
Progress = Callable[[int], None]


def embed_images(
    images: Sequence[VprImage], embedder: BatchEmbedder, settings: Settings, progress: Progress
) -> npt.NDArray[np.float32]:
    """Unit embeddings [len(images), D], preprocessed exactly as the service does."""
    vectors: list[np.ndarray] = []
    step = settings.ingest.batch_size
    for start in range(0, len(images), step):
        chunk = images[start : start + step]
        pixels = [_pixels(image, settings) for image in chunk]
        vectors.extend(embedder.embed_batch(pixels))
        progress(len(chunk))
    return np.stack(vectors).astype(np.float32)


def _pixels(image: VprImage, settings: Settings) -> npt.NDArray[np.float32]:
    try:
        decoded = decode_image(image.path.read_bytes(), settings.images.max_pixels)
    except (OSError, ImageRejected) as exc:
        raise DatasetError(f"{image.path}: {exc}") from exc
    return to_model_input(resized_for_model(decoded, settings.images))


def rank_in_process(
    dataset: VprDataset, embedder: BatchEmbedder, settings: Settings, progress: Progress
) -> list[Ranking]:
    database = embed_images(dataset.database, embedder, settings, progress)
    queries = embed_images(dataset.queries, embedder, settings, progress)
    nearest = exact_ranking(database, queries, matches_to_fetch(TOP_K, settings.location))
    rankings = []
    for query, row in zip(queries, nearest, strict=True):
        matches = [
            Match(dataset.database[i].id, dataset.database[i].location, float(database[i] @ query))
            for i in row
        ]
        estimate = consensus(matches, settings.location)
        positions = [int(i) for i in row[:TOP_K]]
        rankings.append(Ranking(positions, estimate.location if estimate else None))
    return rankings


def index_database(
    dataset: VprDataset,
    embedder: BatchEmbedder,
    model_id: str,
    index: VectorIndex,
    settings: Settings,
    progress: Progress,
) -> None:
    """Every database photo into ``index`` (idempotent: a second run skips them all)."""
    candidates = [Candidate(i.path, i.id, i.id, i.location) for i in dataset.database]

    def record(outcome: Outcome) -> None:
        if outcome.refused:
            raise DatasetError(f"{outcome.candidate.id}: {outcome.status}: {outcome.detail}")
        progress(1)

    with index.bulk_load():
        options = Options(quality=False, dedup=False)
        Ingestion(settings, embedder, index, model_id, record, options).run(candidates)


def rank_through_service(
    dataset: VprDataset, client: GeoPinClient, timeout_s: float, progress: Progress
) -> list[Ranking]:
    """Submit every query as a job, then collect the results in order."""
    positions = {image.id: i for i, image in enumerate(dataset.database)}
    job_ids = [client.submit(query.path, TOP_K) for query in dataset.queries]
    rankings = []
    for query, job_id in zip(dataset.queries, job_ids, strict=True):
        job = client.wait(job_id, timeout_s)
        if job["status"] != "succeeded":
            raise EvaluationError(
                f"query {query.id}: job {job_id} {job['status']}: {job.get('error')}"
            )
        result = job["result"]
        location = result["location"]
        rankings.append(
            Ranking(
                [positions.get(match["id"], -1) for match in result["matches"]],
                LatLon(location["lat"], location["lon"]) if location else None,
            )
        )
        progress(1)
    return rankings
