"""Settings of reference ingestion: quality control, near-duplicates, batching."""

from __future__ import annotations

from pydantic import BaseModel, Field


class QualitySettings(BaseModel):
    """Quality control of reference photos before indexing (shared/geopin/ingest/quality.py)."""

    enabled: bool = Field(True, description="Refuse defective reference photos before indexing.")
    min_side: int = Field(128, ge=1, description="Shorter side below which a photo is too small.")
    dark_level: int = Field(
        10, ge=0, le=255, description="Grey level at or below which a pixel counts as black."
    )
    bright_level: int = Field(
        245, ge=0, le=255, description="Grey level at or above which a pixel counts as white."
    )
    max_clipped_share: float = Field(
        0.5,
        gt=0,
        le=1,
        description="Share of black (or of white) pixels above which a photo is badly exposed.",
    )
    min_entropy_bits: float = Field(
        2.0, ge=0, le=8, description="Grey-level entropy below which a photo has too little detail."
    )
    flat_block_std: float = Field(
        2.0, ge=0, description="Grey-level spread under which a 16x16 block counts as uniform."
    )
    max_flat_share: float = Field(
        0.75,
        gt=0,
        le=1,
        description="Share of uniform blocks above which a photo is mostly occluded or empty.",
    )
    min_laplacian_var: float = Field(
        20.0,
        ge=0,
        description="Variance of the Laplacian (on a 512 px grey copy) below which it is blurred.",
    )


class DedupSettings(BaseModel):
    """Near-duplicate references add storage and search time but no new place."""

    enabled: bool = Field(True, description="Skip photos that nearly repeat an indexed one.")
    radius_m: float = Field(
        10.0, gt=0, description="Only references within this many metres can be duplicates."
    )
    min_cosine: float = Field(
        0.97, ge=-1, le=1, description="Cosine similarity at or above which a photo is a repeat."
    )


class IngestSettings(BaseModel):
    batch_size: int = Field(
        16, ge=1, le=1024, description="Photos decoded, checked and embedded together."
    )
    write_batch: int = Field(500, ge=1, description="References sent in one bulk request.")
    task_size: int = Field(
        64, ge=1, description="Photos per Celery task when ingestion is distributed."
    )
