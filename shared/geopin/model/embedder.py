"""From photo bytes to a unit-length embedding: preprocessing, inference, normalisation."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import Future

import numpy as np
import numpy.typing as npt

from geopin.images import declared_pixels, preprocess
from geopin.jobs import QueryVector
from geopin.model.batching import MicroBatcher, images_per_call
from geopin.model.budget import PixelBudget
from geopin.model.info import ModelInfo
from geopin.model.session import OnnxSession
from geopin.settings import ImageSettings, ModelSettings


class Embedder:
    """Loads its session on first use, so a worker forks before ONNX Runtime starts threads.

    With ``max_batch`` above 1, photos embedded from several threads at once share
    inference calls through a :class:`MicroBatcher`, which waits for companions only while
    some photo is still being decoded here (``_preparing``). Photos decoded at once share a
    :class:`PixelBudget` of ``max_pixels``: as much as one photo at the limit needs.
    """

    def __init__(
        self,
        model: ModelSettings,
        images: ImageSettings,
        on_batch: Callable[[int], None] = lambda _: None,
        timeout_s: float | None = None,
    ) -> None:
        """``timeout_s`` bounds a photo's wait for its batched inference (TimeoutError)."""
        self._timeout_s = timeout_s
        self._model_settings = model
        self._image_settings = images
        self._on_batch = on_batch
        self._session: OnnxSession | None = None
        self._batcher: MicroBatcher | None = None
        self._lock = threading.Lock()
        self._preparing = 0  # photos being decoded, not yet handed to the batcher
        self._decoding = PixelBudget(images.max_pixels)

    def _load(self) -> tuple[OnnxSession, MicroBatcher | None]:
        with self._lock:
            if self._session is None:
                self._session = OnnxSession(self._model_settings)
                if self._model_settings.max_batch > 1:
                    self._batcher = MicroBatcher(
                        self._session.run,
                        self._model_settings.max_batch,
                        self._model_settings.max_wait_ms / 1000,
                        self._on_batch,
                        coming=lambda: self._preparing,
                        max_batch_pixels=self._model_settings.max_batch_pixels,
                    )
            return self._session, self._batcher

    @property
    def session(self) -> OnnxSession:
        return self._load()[0]

    @property
    def info(self) -> ModelInfo:
        return self.session.info

    def embed(self, data: bytes) -> QueryVector:
        """Embed one encoded photo; raises geopin.images.ImageRejected for a bad one."""
        session, batcher = self._load()  # loaded before the clock starts
        started = time.perf_counter()
        if batcher is None:
            (vector,) = session.run(self._preprocess(data)[np.newaxis])
        else:
            vector = self._submit(batcher, data).result(timeout=self._timeout_s)
        # The graph ends in an L2 normalisation; renormalising in float64 guards against
        # an exported model without it (dot_product in Elasticsearch requires unit length).
        vector = vector.astype(np.float64)
        vector /= max(float(np.linalg.norm(vector)), 1e-12)
        elapsed = time.perf_counter() - started
        return QueryVector(session.info.model_id, vector.astype(np.float32), embed_s=elapsed)

    def _submit(self, batcher: MicroBatcher, data: bytes) -> Future[np.ndarray]:
        with self._lock:
            self._preparing += 1
        try:
            return batcher.submit(self._preprocess(data))
        finally:
            with self._lock:
                self._preparing -= 1

    def _preprocess(self, data: bytes) -> npt.NDArray[np.float32]:
        settings = self._image_settings
        with self._decoding.reserve(declared_pixels(data, settings.max_pixels)):
            return preprocess(data, settings)

    def embed_batch(self, pixels: Sequence[npt.NDArray[np.float32]]) -> list[np.ndarray]:
        """Unit embeddings of preprocessed images [3, H, W], in their order.

        For bulk ingestion, which preprocesses (and quality-checks) photos itself: images of
        equal shape are stacked into inference calls of up to ``max_batch``, so a folder of
        same-sized photos costs one call per batch instead of one per photo.
        """
        session = self.session
        vectors: list[np.ndarray | None] = [None] * len(pixels)
        by_shape: dict[tuple[int, ...], list[int]] = defaultdict(list)
        for position, image in enumerate(pixels):
            by_shape[image.shape].append(position)
        model = self._model_settings
        for shape, positions in by_shape.items():
            step = images_per_call(shape, model.max_batch, model.max_batch_pixels)
            for start in range(0, len(positions), step):
                chunk = positions[start : start + step]
                batch = session.run(np.stack([pixels[i] for i in chunk])).astype(np.float64)
                batch /= np.maximum(np.linalg.norm(batch, axis=1, keepdims=True), 1e-12)
                for position, vector in zip(chunk, batch.astype(np.float32), strict=True):
                    vectors[position] = vector
        return [v for v in vectors if v is not None]
