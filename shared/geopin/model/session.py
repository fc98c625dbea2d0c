"""The ONNX Runtime session: providers, precision, threads and the model's identity.

Kept apart from pre- and post-processing (:mod:`geopin.model.embedder`) so the
runtime can change (GPU providers, threads) without touching what the model means;
which providers and options is decided in :mod:`geopin.model.runtime`.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

from geopin.model.files import model_path
from geopin.model.info import ModelInfo
from geopin.model.kinds import kind_of
from geopin.model.runtime import TENSORRT, plan_providers, session_options
from geopin.settings import ModelSettings

log = logging.getLogger(__name__)


class OnnxSession:
    """One inference session per process, loaded once: sessions are costly and not fork-safe."""

    def __init__(self, settings: ModelSettings) -> None:
        path = model_path(settings)
        plan = plan_providers(
            settings.providers,
            ort.get_available_providers(),
            fp16=settings.fp16,
            cache_dir=settings.engine_cache_dir,
        )
        if plan.fp16_ignored:
            log.warning("GEOPIN_MODEL__FP16 is on but no GPU provider is available: FP32 on CPU")
        if TENSORRT in plan.names:
            settings.engine_cache_dir.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        # An FP16 copy is made at load time rather than kept on disk, so there is one model
        # file, one identity and one thing to deploy; converting takes seconds.
        model: str | bytes = _fp16_copy(path) if plan.fp16_graph else str(path)
        self._session = ort.InferenceSession(
            model,
            session_options(settings.intra_op_threads, cpu_arena=settings.cpu_arena),
            providers=plan.names,
            provider_options=plan.options,
        )
        self.load_seconds = time.perf_counter() - started
        # ONNX Runtime falls back to the next provider when one fails to start (say, TensorRT
        # without its libraries), so what runs is read back rather than assumed.
        self.providers = tuple(self._session.get_providers())
        if self.providers[0] != plan.names[0]:
            log.warning("%s did not start; running on %s", plan.names[0], self.providers[0])
        self._input = self._session.get_inputs()[0].name
        meta = self._session.get_modelmeta().custom_metadata_map
        fp16 = plan.fp16_graph or (settings.fp16 and self.providers[0] == TENSORRT)
        self.precision = "fp16" if fp16 else meta.get("geopin.precision", "fp32")
        self.info = ModelInfo(
            model_id=meta.get("geopin.model_id", "unknown"),
            backbone=meta.get("geopin.backbone", "unknown"),
            dim=int(self._session.get_outputs()[0].shape[-1]),
            trained=meta.get("geopin.trained", "true") == "true",
            description=meta.get("geopin.description", ""),
            kind=kind_of(meta).value,
        )
        log.info(
            "loaded model %s (%s, D=%d, %s) on %s, %s, in %.2fs",
            self.info.model_id[:12],
            self.info.backbone,
            self.info.dim,
            kind_of(meta).label,
            self.providers[0],
            self.precision,
            self.load_seconds,
        )

    def run(self, batch: np.ndarray) -> np.ndarray:
        """Embeddings [N, D] for preprocessed images [N, 3, H, W]."""
        (out,) = self._session.run(None, {self._input: batch.astype(np.float32, copy=False)})
        return np.asarray(out, dtype=np.float32)


def _fp16_copy(path: Path) -> bytes:
    # onnx is needed only to convert for a GPU: CPU workers never load it.
    import onnx

    from geopin.model.fp16 import to_fp16

    data: bytes = to_fp16(onnx.load(path)).SerializeToString()
    return data
