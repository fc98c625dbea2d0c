"""Settings of the gateway and its jobs: TTLs, webhooks, keys, limits, results, pages, metrics."""

from __future__ import annotations

from pathlib import Path

from limits import parse_many
from pydantic import BaseModel, Field, IPvAnyNetwork, SecretStr, field_validator

from geopin.top_k import TOP_K_MAX, TOP_K_MIN


class JobSettings(BaseModel):
    result_ttl_s: int = Field(
        24 * 3600, gt=0, description="How long a job and its result stay readable, seconds."
    )
    upload_ttl_s: int = Field(
        3600, gt=0, description="How long an upload waits for an embedding worker, seconds."
    )
    default_top_k: int = Field(
        10, ge=TOP_K_MIN, le=TOP_K_MAX, description="Matches returned when unasked."
    )


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
        description="Submissions and redeliveries per key (per client address when keys are off); "
        "each route counts on its own.",
    )
    read: str = Field(
        "600/minute",
        description="Job reads and thumbnails per key (per client address when keys are off).",
    )
    max_queued_jobs: int = Field(
        500, ge=1, description="Submissions answer 503 while the embed queue holds more jobs."
    )
    retry_after_s: int = Field(
        5, ge=1, description="Retry-After of a 503 (a full queue, or a backend down), seconds."
    )
    drain_bytes: int = Field(
        64 * 1024 * 1024,
        ge=0,
        description=(
            "A request body up to this size that the gateway answers without reading (413, 401, "
            "415, 429, 503) is read and discarded first, so a client that sends all before it "
            "reads still gets the answer; a larger one is cut off (docs/deployment.md)."
        ),
    )

    @field_validator("submit", "read")
    @classmethod
    def _is_a_rate(cls, value: str) -> str:
        parse_many(value)  # ValueError names what it cannot read
        return value


class LocationSettings(BaseModel):
    """The consensus location estimate of a job (shared/geopin/location.py, docs/location.md)."""

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
    """Prometheus metrics (shared/geopin/metrics.py, docs/observability.md)."""

    port: int = Field(
        0,
        ge=0,
        le=65535,
        description=(
            "Port on which a worker serves /metrics; 0: none. The gateway serves /metrics on "
            "its own port whatever this says."
        ),
    )
