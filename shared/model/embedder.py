"""From photo bytes to a unit-length embedding: preprocessing, inference, normalisation."""

from __future__ import annotations

import threading
import time

import numpy as np

from shared.images import preprocess
from shared.jobs import QueryVector
from shared.model.session import ModelInfo, OnnxSession
from shared.settings import ImageSettings, ModelSettings


class Embedder:
    """Loads its session on first use, so a worker forks before ONNX Runtime starts threads."""

    def __init__(self, model: ModelSettings, images: ImageSettings) -> None:
        self._model_settings = model
        self._image_settings = images
        self._session: OnnxSession | None = None
        self._lock = threading.Lock()

    @property
    def session(self) -> OnnxSession:
        with self._lock:
            if self._session is None:
                self._session = OnnxSession(self._model_settings)
            return self._session

    @property
    def info(self) -> ModelInfo:
        return self.session.info

    def embed(self, data: bytes) -> QueryVector:
        """Embed one encoded photo; raises shared.images.ImageRejected for a bad one."""
        session = self.session  # loaded before the clock starts
        started = time.perf_counter()
        pixels = preprocess(data, self._image_settings)
        (vector,) = session.run(pixels[np.newaxis])
        # The graph ends in an L2 normalisation; renormalising in float64 guards against
        # an exported model without it (dot_product in Elasticsearch requires unit length).
        vector = vector.astype(np.float64)
        vector /= max(float(np.linalg.norm(vector)), 1e-12)
        elapsed = time.perf_counter() - started
        return QueryVector(session.info.model_id, vector.astype(np.float32), embed_s=elapsed)
