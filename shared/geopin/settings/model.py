"""Settings of the embedding model and of the photos it sees."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, Field


class ResizePolicy(StrEnum):
    """How the embedding worker sizes an image before the network sees it."""

    NATIVE = "native"  # CosPlace's default at test time; cost grows with the photo's pixels
    SHORTER_SIDE = "shorter_side"  # shorter side to ``shorter_side`` pixels, aspect kept


class ModelSettings(BaseModel):
    path: Path | None = Field(
        None,
        description=(
            "ONNX file of the CosPlace model the embedding worker loads; it must exist. Unset: "
            "GeoPin's default model, an ImageNet off-the-shelf network, not CosPlace-trained "
            "(docs/models.md)."
        ),
    )
    default_model_dir: Path = Field(
        Path(".cache/geopin"),
        description=(
            "Where the default model is built on first use and cached (when path is unset); "
            "must be writable by the first process that needs it."
        ),
    )
    providers: list[str] = Field(
        default_factory=lambda: [
            "TensorrtExecutionProvider",
            "CUDAExecutionProvider",
            "CPUExecutionProvider",
        ],
        description=(
            "ONNX Runtime execution providers, in order of preference (JSON list); those this "
            "onnxruntime build lacks are skipped, so the default runs anywhere."
        ),
    )
    fp16: bool = Field(
        False,
        description=(
            "Half precision on a GPU: TensorRT builds FP16 engines, CUDA runs an FP16 copy of "
            "the graph (inputs, outputs and the head stay FP32). Ignored on CPU."
        ),
    )
    engine_cache_dir: Path = Field(
        Path(".cache/geopin/tensorrt"),
        description=(
            "Where TensorRT keeps the engines it builds (minutes each), so a restarted worker "
            "reuses them; must be writable by the worker."
        ),
    )
    intra_op_threads: int = Field(
        0, ge=0, description="Threads for one inference; 0 lets ONNX Runtime use every core."
    )
    max_batch: int = Field(
        8,
        ge=1,
        le=256,
        description=(
            "Most photos one inference call embeds; an embed worker runs twice as many threads."
        ),
    )
    max_batch_pixels: int = Field(
        1_050_000,
        ge=1,
        description=(
            "Most pixels (photos times height times width, after resizing) one inference call "
            "takes: on a CPU it bounds the memory of the activations (docs/runtime.md); 3 photos "
            "at 512x683, 2 at 512x1024. A larger single photo still runs, alone. Raise it on GPUs."
        ),
    )
    cpu_arena: bool = Field(
        True,
        description=(
            "ONNX Runtime's CPU memory arena: it keeps the largest call's activations, rounded up "
            "to a power of two, for good; off, the worker holds less but embeds about half as "
            "fast (docs/runtime.md)."
        ),
    )
    max_wait_ms: float = Field(
        10.0,
        ge=0,
        description="How long the first photo of a batch waits for others, milliseconds.",
    )


class ImageSettings(BaseModel):
    max_upload_bytes: int = Field(
        20 * 1024 * 1024, gt=0, description="Largest accepted upload, bytes (413 above)."
    )
    max_pixels: int = Field(
        40_000_000,
        gt=0,
        description="Largest accepted width*height (400 above): stops decompression bombs.",
    )
    resize: ResizePolicy = Field(
        ResizePolicy.SHORTER_SIDE, description="native, or shorter_side (see shorter_side)."
    )
    shorter_side: int = Field(
        512, ge=32, description="Target shorter side, pixels, when resize is shorter_side."
    )
    max_side: int = Field(
        1024,
        ge=32,
        description="Longer side is capped at this many pixels whatever the policy, bounding cost.",
    )
