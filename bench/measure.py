"""Timing primitives for the throughput benchmark: one image at a time, and a burst.

A burst is what a busy embedding worker sees: many jobs at once, each in its own thread,
each handing one photo to the worker's :class:`geopin.model.batching.MicroBatcher`.
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from geopin.images import preprocess
from geopin.model.batching import MicroBatcher, Pixels, RunBatch
from geopin.settings import ImageSettings, ResizePolicy
from geopin_tools.model.calibration import synthetic_photo


@dataclass(frozen=True)
class Timing:
    """Images embedded, wall time, and each request's latency."""

    images: int
    seconds: float
    latencies_s: list[float]
    batch_sizes: list[int] = field(default_factory=list)

    @property
    def images_per_s(self) -> float:
        return self.images / self.seconds

    def percentile_ms(self, q: float) -> float:
        return float(np.percentile(self.latencies_s, q)) * 1000

    def summary(self) -> dict[str, float | int]:
        return {
            "images": self.images,
            "seconds": round(self.seconds, 3),
            "images_per_s": round(self.images_per_s, 3),
            "p50_ms": round(self.percentile_ms(50), 1),
            "p99_ms": round(self.percentile_ms(99), 1),
            **(
                {"mean_batch": round(float(np.mean(self.batch_sizes)), 2)}
                if self.batch_sizes
                else {}
            ),
        }


def one_at_a_time(run: RunBatch, images: Sequence[Pixels], count: int) -> tuple[Timing, Pixels]:
    """``count`` calls of batch 1 over the images in turn, after one untimed warm-up call."""
    ((timing, embeddings),) = side_by_side([run], images, count)
    return timing, embeddings


def side_by_side(
    runs: Sequence[RunBatch], images: Sequence[Pixels], count: int
) -> list[tuple[Timing, Pixels]]:
    """Batch-1 calls of several models in turn, image by image, after a warm-up call each.

    On a shared machine the load moves during a run; taking the models' calls in turn gives
    each the same conditions, so their ratio holds even when the absolute figures drift.
    """
    for run in runs:
        run(images[0][np.newaxis])
    latencies: list[list[float]] = [[] for _ in runs]
    embeddings: list[list[Pixels]] = [[] for _ in runs]
    for index in range(count):
        pixels = images[index % len(images)][np.newaxis]
        for model, run in enumerate(runs):
            started = time.perf_counter()
            embeddings[model].append(run(pixels)[0])
            latencies[model].append(time.perf_counter() - started)
    return [
        (Timing(count, sum(times), times), np.stack(vectors))
        for times, vectors in zip(latencies, embeddings, strict=True)
    ]


def combined(first: Timing, second: Timing) -> Timing:
    """Two measurements of the same thing as one, e.g. taken before and after another."""
    return Timing(
        first.images + second.images,
        first.seconds + second.seconds,
        first.latencies_s + second.latencies_s,
    )


def burst(
    run: RunBatch, images: Sequence[Pixels], max_batch: int, max_wait_s: float
) -> tuple[Timing, Pixels]:
    """Every image submitted at once from its own thread through one MicroBatcher.

    One untimed call at the full batch size first, so that per-shape set-up (a memory plan on
    CPU, kernel selection or an engine build on a GPU) is not counted as throughput.
    """
    run(np.stack([images[0]] * min(max_batch, len(images))))
    sizes: list[int] = []
    batcher = MicroBatcher(run, max_batch, max_wait_s, sizes.append)
    start = threading.Barrier(len(images) + 1)

    def request(pixels: Pixels) -> tuple[float, npt.NDArray[np.float32]]:
        start.wait()
        submitted = time.perf_counter()
        embedding = batcher.submit(pixels).result()
        return time.perf_counter() - submitted, embedding

    try:
        with ThreadPoolExecutor(max_workers=len(images)) as pool:
            futures = [pool.submit(request, pixels) for pixels in images]
            start.wait()
            started = time.perf_counter()
            results = [future.result() for future in futures]
            seconds = time.perf_counter() - started
    finally:
        batcher.close()
    latencies = [latency for latency, _ in results]
    embeddings = np.stack([embedding for _, embedding in results])
    return Timing(len(images), seconds, latencies, sizes), embeddings


def photos(size: tuple[int, int], count: int, first_seed: int = 0) -> list[Pixels]:
    """Generated photos of exactly ``size`` (H, W), preprocessed by the worker's own code."""
    height, width = size
    settings = ImageSettings(resize=ResizePolicy.NATIVE, max_side=max(size))
    inputs = []
    for seed in range(first_seed, first_seed + count):
        buffer = io.BytesIO()
        synthetic_photo(seed, (width, height)).save(buffer, "JPEG", quality=90)
        inputs.append(preprocess(buffer.getvalue(), settings))
    return inputs
