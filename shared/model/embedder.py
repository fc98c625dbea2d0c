"""From photo bytes to a unit-length embedding: preprocessing, inference, normalisation."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import numpy as np

from shared.images import preprocess
from shared.jobs import QueryVector
from shared.model.batching import MicroBatcher
from shared.model.session import ModelInfo, OnnxSession
from shared.settings import ImageSettings, ModelSettings


class Embedder:
    """Loads its session on first use, so a worker forks before ONNX Runtime starts threads.

    With ``max_batch`` above 1, photos embedded from several threads at once share
    inference calls through a :class:`MicroBatcher`.
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
                    )
            return self._session, self._batcher

    @property
    def session(self) -> OnnxSession:
        return self._load()[0]

    @property
    def info(self) -> ModelInfo:
        return self.session.info

    def embed(self, data: bytes) -> QueryVector:
        """Embed one encoded photo; raises shared.images.ImageRejected for a bad one."""
        session, batcher = self._load()  # loaded before the clock starts
        started = time.perf_counter()
        pixels = preprocess(data, self._image_settings)
        if batcher is None:
            (vector,) = session.run(pixels[np.newaxis])
        else:
            vector = batcher.submit(pixels).result(timeout=self._timeout_s)
        # The graph ends in an L2 normalisation; renormalising in float64 guards against
        # an exported model without it (dot_product in Elasticsearch requires unit length).
        vector = vector.astype(np.float64)
        vector /= max(float(np.linalg.norm(vector)), 1e-12)
        elapsed = time.perf_counter() - started
        return QueryVector(session.info.model_id, vector.astype(np.float32), embed_s=elapsed)
