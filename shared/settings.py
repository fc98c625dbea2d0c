"""Typed settings, read from the environment with the prefix ``GEOPIN_``.

Nested groups use a double underscore: ``GEOPIN_REDIS__URL``, ``GEOPIN_MODEL__PATH``.
Every setting is documented once, here, by its ``description``; ``geopin settings``
prints them all with their current values (secrets masked), and docs/configuration.md
is generated from the same source.
"""

from __future__ import annotations

import json
import os
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, Field, IPvAnyNetwork, SecretStr, field_validator, model_validator
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


class LogFormat(StrEnum):
    """How GeoPin processes write their log lines."""

    TEXT = "text"  # for people reading a terminal or a log file
    JSON = "json"  # one object per line, with job_id, for log collectors


class Mode(StrEnum):
    """Which backends GeoPin uses: servers (Redis, Elasticsearch) or its embedded ones."""

    AUTO = "auto"  # servers for what has its URL set in the environment, embedded for the rest
    EMBEDDED = "embedded"  # a data folder on this machine, whatever URLs are set
    SERVERS = "servers"  # Redis and Elasticsearch, at their URLs or the defaults


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


class WebhookSettings(BaseModel):
    schedule_s: list[float] = Field(
        default_factory=lambda: [5.0, 300.0, 1800.0, 7200.0, 18e3, 36e3, 50.4e3, 72e3, 86.4e3],
        description=(
            "Delays before each retry of a failed delivery, seconds (JSON list; its length is "
            "the number of retries): Standard Webhooks' 5 s, 5 min, 30 min, 2, 5, 10, 14, 20, 24 h."
        ),
    )
    jitter: float = Field(
        0.2,
        ge=0,
        le=1,
        description="Each retry delay is scaled by a random factor in [1-jitter, 1+jitter].",
    )
    timeout_s: float = Field(
        15.0, gt=0, le=30, description="Limit of one delivery: connect, send, read, seconds."
    )
    max_response_bytes: int = Field(
        4096, ge=0, description="Bytes of a receiver's answer read, at most; the rest is dropped."
    )
    max_retry_after_s: int = Field(
        86400, ge=0, description="Longest Retry-After a receiver gets honoured, seconds."
    )
    secret: SecretStr | None = Field(
        None,
        description=(
            "Signing secret (whsec_ + base64) when API keys are off; with keys on, each key has "
            "its own. Callbacks are refused while the secret they need is unset."
        ),
    )
    previous_secret: SecretStr | None = Field(
        None, description="While rotating the secret above, deliveries are signed with both."
    )
    rotation_grace_s: int = Field(
        86400,
        ge=0,
        description="After a key's webhook secret is rotated, the old one also signs this long.",
    )
    insecure_allow_networks: list[IPvAnyNetwork] = Field(
        default_factory=list,
        description=(
            "TESTS ONLY: non-global networks callbacks may reach anyway, e.g. "
            '["127.0.0.1/32"]. Leave empty in production: it opens a hole in the SSRF guard.'
        ),
    )
    poll_interval_s: float = Field(
        1.0, gt=0, description="How often the notifier looks for retries that are due, seconds."
    )

    @field_validator("secret", "previous_secret")
    @classmethod
    def _is_a_signing_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith("whsec_"):
            raise ValueError("a webhook secret starts with whsec_ (see `geopin keys secret`)")
        return value


class AuthSettings(BaseModel):
    enabled: bool = Field(
        False,
        description=(
            "Require `Authorization: Bearer <key>` on /v1 (keys from `geopin keys create`). "
            "Off for a local run; turn it on wherever others can reach the gateway."
        ),
    )


class LimitSettings(BaseModel):
    enabled: bool = Field(True, description="Per-key rate limits on /v1 (429 with Retry-After).")
    submit: str = Field(
        "30/minute",
        description="Submissions and redeliveries per key (per client address when keys are off).",
    )
    read: str = Field("600/minute", description="Job reads per key (per address without keys).")
    max_queued_jobs: int = Field(
        500, ge=1, description="Submissions answer 503 while the embed queue holds more jobs."
    )
    retry_after_s: int = Field(
        5, ge=1, description="Retry-After of a 503 for a full queue, seconds."
    )

    @field_validator("submit", "read")
    @classmethod
    def _is_a_rate(cls, value: str) -> str:
        from limits import parse_many

        parse_many(value)  # ValueError names what it cannot read
        return value


class QualitySettings(BaseModel):
    """Quality control of reference photos before indexing (shared/ingest/quality.py)."""

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


class LocationSettings(BaseModel):
    """The consensus location estimate of a job (shared/location.py, docs/location.md)."""

    cluster_radius_m: float = Field(
        50.0, gt=0, description="Matches this close to a candidate centre vote for it, metres."
    )
    temperature: float = Field(
        0.05,
        gt=0,
        description="Score gap that weighs a match e times less than the best (softmax).",
    )
    min_radius_m: float = Field(
        25.0, ge=0, description="Smallest uncertainty radius an estimate claims, metres."
    )


class ThumbnailSettings(BaseModel):
    """Small copies of reference photos, written at ingestion, shown by the web page."""

    dir: Path | None = Field(
        Path(".cache/thumbnails"),
        description=(
            "Folder of reference thumbnails, shared by ingestion and the gateway "
            "(a shared volume when they run apart); unset: none are kept."
        ),
    )
    max_side: int = Field(256, ge=16, le=1024, description="Longest side of a thumbnail, pixels.")


class WebSettings(BaseModel):
    """The page at ``/``. Tiles are off by default: a tile server learns where users look."""

    tile_url: str | None = Field(
        None,
        description=(
            "Map tile URL template, e.g. https://tile.openstreetmap.org/{z}/{x}/{y}.png; "
            "browsers then send the located area to that server. Unset: a plain background."
        ),
    )
    tile_attribution: str = Field(
        "", description="Credit shown on the map for the tiles, e.g. '© OpenStreetMap'."
    )


class MetricsSettings(BaseModel):
    """Prometheus metrics (shared/metrics.py, docs/observability.md)."""

    port: int = Field(
        0,
        ge=0,
        le=65535,
        description=(
            "Port on which a worker serves /metrics; 0: none. The gateway serves /metrics on "
            "its own port whatever this says."
        ),
    )


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
    webhooks: WebhookSettings = Field(default_factory=WebhookSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    limits: LimitSettings = Field(default_factory=LimitSettings)
    quality: QualitySettings = Field(default_factory=QualitySettings)
    dedup: DedupSettings = Field(default_factory=DedupSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    location: LocationSettings = Field(default_factory=LocationSettings)
    thumbnails: ThumbnailSettings = Field(default_factory=ThumbnailSettings)
    web: WebSettings = Field(default_factory=WebSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    log_level: str = Field("INFO", description="Python logging level of every GeoPin process.")
    log_format: LogFormat = Field(
        LogFormat.TEXT,
        description="text, or json: one JSON object per line, each with the job's job_id.",
    )
    mode: Mode = Field(
        Mode.AUTO,
        description=(
            "auto: Redis when GEOPIN_REDIS__URL (or GEOPIN_CELERY__BROKER_URL) is set, "
            "Elasticsearch when GEOPIN_ELASTICSEARCH__URL is set, the embedded backends in the "
            "data folder otherwise; embedded or servers force one kind (docs/embedded.md)."
        ),
    )
    data_dir: Path | None = Field(
        None,
        description=(
            "Folder of the embedded backends' queue, jobs, index and `geopin up` logs; unset: "
            "$XDG_DATA_HOME/geopin, i.e. ~/.local/share/geopin."
        ),
    )

    def data_folder(self) -> Path:
        """The data folder, absolute, so every process of one deployment finds the same one."""
        if self.data_dir is not None:
            return self.data_dir.expanduser().resolve()
        xdg = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
        return (Path(xdg) / "geopin").resolve()


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
