"""Dynamic batching: many single-photo requests, few inference calls.

An embedding worker runs one Celery task per job, each in its own thread. Every task
preprocesses its photo and hands the pixels to one :class:`MicroBatcher`, which gathers
requests for up to ``max_wait_s`` or ``max_batch`` photos, stacks those of equal shape
and runs the network once per shape (more often when their pixels pass a cap). On a GPU
that multiplies throughput; on a CPU it costs next to nothing. It waits only while another
photo is on its way (``coming``: being decoded by another task), so a photo that comes alone
is run at once, not ``max_wait_s`` later. Each task still acknowledges its own message after
its own result is stored, so a worker killed mid-batch loses no job: every task of the batch
is delivered again.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from itertools import groupby

import numpy as np
import numpy.typing as npt

log = logging.getLogger(__name__)

Pixels = npt.NDArray[np.float32]
RunBatch = Callable[[Pixels], Pixels]


def images_per_call(shape: tuple[int, ...], max_batch: int, max_pixels: int | None) -> int:
    """How many images of ``shape`` [3, H, W] one inference call may take.

    On a CPU the activations of a call live in the worker's memory, in proportion to the pixels
    it carries: capping those, rather than only the count, bounds memory whatever sizes arrive.
    A single image always fits, whatever its size.
    """
    if max_pixels is None:
        return max_batch
    height, width = shape[-2:]
    return max(1, min(max_batch, max_pixels // (height * width)))


@dataclass(frozen=True)
class _Request:
    pixels: Pixels
    future: Future[Pixels] = field(default_factory=Future)


class MicroBatcher:
    """One background thread that turns queued single images into batched inference calls."""

    def __init__(
        self,
        run: RunBatch,
        max_batch: int,
        max_wait_s: float,
        on_batch: Callable[[int], None] = lambda _: None,
        coming: Callable[[], int] = lambda: 1,
        max_batch_pixels: int | None = None,
    ) -> None:
        """``coming`` counts the photos about to be submitted; by default one always is, so
        every batch waits up to ``max_wait_s``. ``max_batch_pixels`` caps the pixels of one
        inference call (None: no cap)."""
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self._run = run
        self._max_batch = max_batch
        self._max_batch_pixels = max_batch_pixels
        self._max_wait_s = max_wait_s
        self._on_batch = on_batch
        self._coming = coming
        self._requests: queue.Queue[_Request | None] = queue.Queue()
        self._thread = threading.Thread(target=self._serve, name="micro-batcher", daemon=True)
        self._thread.start()

    def submit(self, pixels: Pixels) -> Future[Pixels]:
        """Queue one preprocessed image [3, H, W]; the future holds its embedding [D]."""
        request = _Request(pixels)
        self._requests.put(request)
        return request.future

    def close(self) -> None:
        """Finish what is queued, then stop the thread."""
        self._requests.put(None)
        self._thread.join()

    def _serve(self) -> None:
        while True:
            first = self._requests.get()
            if first is None:
                return
            batch, closing = self._gather(first)
            # Equal shapes stack into one tensor; sorting keeps each shape's requests together.
            batch.sort(key=lambda r: r.pixels.shape)
            for shape, same_shape in groupby(batch, key=lambda r: r.pixels.shape):
                group = list(same_shape)
                step = images_per_call(shape, self._max_batch, self._max_batch_pixels)
                for start in range(0, len(group), step):
                    self._run_group(group[start : start + step])
            if closing:
                return

    def _gather(self, first: _Request) -> tuple[list[_Request], bool]:
        batch = [first]
        deadline = time.monotonic() + self._max_wait_s
        while len(batch) < self._max_batch:
            remaining = deadline - time.monotonic()
            try:
                if remaining > 0 and self._coming() > 0:
                    request = self._requests.get(timeout=remaining)
                else:
                    request = self._requests.get_nowait()  # only what is already waiting
            except queue.Empty:
                break
            if request is None:
                return batch, True
            batch.append(request)
        return batch, False

    def _run_group(self, group: list[_Request]) -> None:
        try:
            embeddings = self._run(np.stack([r.pixels for r in group]))
        except Exception as exc:
            if len(group) == 1:
                group[0].future.set_exception(exc)
                return
            # One bad input must not fail the others: retry them one by one.
            log.warning("batch of %d failed (%s); retrying one at a time", len(group), exc)
            for request in group:
                self._run_group([request])
            return
        self._on_batch(len(group))
        for request, embedding in zip(group, embeddings, strict=True):
            request.future.set_result(embedding)
