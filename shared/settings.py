"""Typed settings, read from the environment with the prefix ``GEOPIN_``.

Nested groups use a double underscore: ``GEOPIN_REDIS__URL``, ``GEOPIN_MODEL__PATH``.
Every setting is documented once, here, by its ``description``; ``geopin settings``
prints them all with their current values (secrets masked), and docs/configuration.md
is generated from the same source.
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, SettingsConfigDict


class ResizePolicy(StrEnum):
    """How the embedding worker sizes an image before the network sees it."""

    NATIVE = "native"  # CosPlace's default at test time; cost grows with the photo's pixels
    SHORTER_SIDE = "shorter_side"  # shorter side to ``shorter_side`` pixels, aspect kept


class VectorIndexType(StrEnum):
    """Elasticsearch ``dense_vector`` index_options types GeoPin supports."""

    HNSW = "hnsw"  # float32, 4*D bytes per vector
    INT8_HNSW = "int8_hnsw"  # D+4 bytes per vector; rescored with floats at query time
    BBQ_HNSW = "bbq_hnsw"  # D/8+14 bytes per vector; needs oversampling to keep recall


class RedisSettings(BaseModel):
    url: str = Field(
        "redis://127.0.0.1:6379/0",
        description="Redis holding the Celery queues, job records and pending uploads.",
    )
    key_prefix: str = Field(
        "geopin", description="Prefix of every key GeoPin writes, so deployments can share a Redis."
    )


class ElasticsearchSettings(BaseModel):
    url: str = Field("http://127.0.0.1:9200", description="Elasticsearch HTTP endpoint.")
    username: str | None = Field(None, description="Basic-auth user, when security is on.")
    password: SecretStr | None = Field(None, description="Basic-auth password.")
    index: str = Field(
        "geopin-references",
        description="Alias the search worker queries; it points at a versioned index.",
    )
    index_type: VectorIndexType = Field(
        VectorIndexType.INT8_HNSW,
        description="dense_vector index_options type for new indices (hnsw, int8_hnsw, bbq_hnsw).",
    )
    num_candidates: int = Field(
        200, ge=1, le=10_000, description="HNSW candidates per shard for each kNN query."
    )
    rescore_oversample: float = Field(
        3.0,
        ge=0.0,
        description="Rescore k*oversample quantised hits with float vectors (0 turns it off).",
    )
    request_timeout_s: float = Field(10.0, gt=0, description="Timeout of one request, seconds.")


class ModelSettings(BaseModel):
    path: Path = Field(
        Path(".cache/geopin/model.onnx"),
        description="ONNX file of the CosPlace model the embedding worker loads.",
    )
    providers: list[str] = Field(
        default_factory=lambda: ["CPUExecutionProvider"],
        description="ONNX Runtime execution providers, in order of preference (JSON list).",
    )
    intra_op_threads: int = Field(
        0, ge=0, description="Threads for one inference; 0 lets ONNX Runtime use every core."
    )
    max_batch: int = Field(
        8,
        ge=1,
        le=256,
        description="Most photos one inference call embeds; also the embed worker's threads.",
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


class JobSettings(BaseModel):
    result_ttl_s: int = Field(
        24 * 3600, gt=0, description="How long a job and its result stay readable, seconds."
    )
    upload_ttl_s: int = Field(
        3600, gt=0, description="How long an upload waits for an embedding worker, seconds."
    )
    default_top_k: int = Field(10, ge=1, le=100, description="Matches returned when unasked.")


class CelerySettings(BaseModel):
    broker_url: str | None = Field(
        None, description="Celery broker; defaults to the Redis URL above."
    )
    soft_time_limit_s: int = Field(
        120, gt=0, description="A task gets SoftTimeLimitExceeded after this many seconds."
    )
    hard_time_limit_s: int = Field(
        150, gt=0, description="A task's process is killed after this many seconds."
    )
    visibility_timeout_s: int = Field(
        600,
        gt=0,
        description=(
            "An unacknowledged task is delivered again after this many seconds; "
            "must exceed the hard time limit."
        ),
    )
    max_retries: int = Field(3, ge=0, description="Retries of a task after a transient error.")

    @model_validator(mode="after")
    def _limits_are_ordered(self) -> CelerySettings:
        if not self.soft_time_limit_s < self.hard_time_limit_s < self.visibility_timeout_s:
            raise ValueError(
                "need soft_time_limit_s < hard_time_limit_s < visibility_timeout_s, "
                "or a slow task is delivered twice while it still runs"
            )
        return self


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="GEOPIN_", env_nested_delimiter="__", extra="ignore"
    )

    redis: RedisSettings = Field(default_factory=RedisSettings)
    elasticsearch: ElasticsearchSettings = Field(default_factory=ElasticsearchSettings)
    model: ModelSettings = Field(default_factory=ModelSettings)
    images: ImageSettings = Field(default_factory=ImageSettings)
    jobs: JobSettings = Field(default_factory=JobSettings)
    celery: CelerySettings = Field(default_factory=CelerySettings)
    log_level: str = Field("INFO", description="Python logging level of every GeoPin process.")


def settings_reference() -> str:
    """Every setting as a Markdown table: environment variable, default, meaning."""
    rows = ["| Variable | Default | Meaning |", "| --- | --- | --- |"]

    def row(variable: str, field: FieldInfo) -> str:
        default = _shown(field.get_default(call_default_factory=True))
        return f"| `{variable}` | `{default}` | {field.description} |"

    for group_name, group_field in Settings.model_fields.items():
        group = group_field.annotation
        if isinstance(group, type) and issubclass(group, BaseModel):
            for name, field in group.model_fields.items():
                rows.append(row(f"GEOPIN_{group_name.upper()}__{name.upper()}", field))
        else:
            rows.append(row(f"GEOPIN_{group_name.upper()}", group_field))
    return "\n".join(rows) + "\n"


def _shown(value: object) -> str:
    if value is None:
        return "unset"
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, list):
        return json.dumps(value)
    return str(value)
