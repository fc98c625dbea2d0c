"""The ONNX Runtime session: providers, threads and the model's identity.

Kept apart from pre- and post-processing (:mod:`shared.model.embedder`) so the
runtime can change (GPU providers, threads) without touching what the model means.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from shared.settings import ModelSettings

log = logging.getLogger(__name__)


class ModelNotFound(FileNotFoundError):
    """The configured model file is missing; tells the user how to make one."""


@dataclass(frozen=True)
class ModelInfo:
    """What the ONNX file says about itself (metadata written by GeoPin's builder)."""

    model_id: str
    backbone: str
    dim: int
    trained: bool
    description: str

    def public(self) -> dict[str, str | int | bool]:
        return {
            "model_id": self.model_id,
            "backbone": self.backbone,
            "dim": self.dim,
            "trained": self.trained,
            "description": self.description,
        }


class OnnxSession:
    """One inference session per process, loaded once: sessions are costly and not fork-safe."""

    def __init__(self, settings: ModelSettings) -> None:
        path = Path(settings.path)
        if not path.is_file():
            raise ModelNotFound(
                f"model file {path} not found: create a seeded one with `geopin model init` "
                "or point GEOPIN_MODEL__PATH at a CosPlace ONNX file"
            )
        options = ort.SessionOptions()
        options.intra_op_num_threads = settings.intra_op_threads
        # One request at a time per session: parallelism comes from worker processes.
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        available = set(ort.get_available_providers())
        providers = [p for p in settings.providers if p in available] or ["CPUExecutionProvider"]
        started = time.perf_counter()
        self._session = ort.InferenceSession(str(path), options, providers=providers)
        self.load_seconds = time.perf_counter() - started
        self._input = self._session.get_inputs()[0].name
        meta = self._session.get_modelmeta().custom_metadata_map
        self.info = ModelInfo(
            model_id=meta.get("geopin.model_id", "unknown"),
            backbone=meta.get("geopin.backbone", "unknown"),
            dim=int(self._session.get_outputs()[0].shape[-1]),
            trained=meta.get("geopin.trained", "true") == "true",
            description=meta.get("geopin.description", ""),
        )
        log.info(
            "loaded model %s (%s, D=%d, %s) with %s in %.2fs",
            self.info.model_id[:12],
            self.info.backbone,
            self.info.dim,
            "trained" if self.info.trained else "UNTRAINED: results are meaningless",
            self._session.get_providers()[0],
            self.load_seconds,
        )

    def run(self, batch: np.ndarray) -> np.ndarray:
        """Embeddings [N, D] for preprocessed images [N, 3, H, W]."""
        (out,) = self._session.run(None, {self._input: batch.astype(np.float32, copy=False)})
        return np.asarray(out, dtype=np.float32)
