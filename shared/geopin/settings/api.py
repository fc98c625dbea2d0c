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
    """Rate limits and backpressure at the gateway (docs/security.md, "Rate limits")."""

    enabled: bool | None = Field(
        None,
        description=(
            "Per-key rate limits on /v1 (429 with Retry-After). Unset: on, except with keys off "
            "on a gateway whose bind_host is a loopback address (one local user)."
        ),
    )
    bind_host: str | None = Field(
        None,
        description=(
            "Address the gateway listens on, as given to gunicorn's --bind (`geopin up` and "
            "scripts/up set it); read only to choose whether limits are on. Unset: reachable."
        ),
    )
    trusted_proxies: list[IPvAnyNetwork] = Field(
        default_factory=list,
        description=(
            "Proxies (JSON list of networks, e.g. the ingress controller's pods) whose "
            "X-Forwarded-For names the client that limits count, with keys off; from any "
            "other peer the header is ignored."
        ),
    )
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
    """The location estimate of a job (shared/geopin/location.py, docs/location.md).

    The defaults of ``temperature``, ``overrule_factor`` and the calibration were chosen on
    the dense street benchmark (bench/dense_street.py) with the default model; another model
    or reference set may want its own, measured the same way.
    """

    candidates: int = Field(
        20,
        ge=1,
        le=TOP_K_MAX,
        description="Matches the estimate is computed from, whatever top_k a job asks to see.",
    )
    cluster_radius_m: float = Field(
        50.0, gt=0, description="Matches this close to a candidate centre vote for it, metres."
    )
    temperature: float = Field(
        0.01,
        gt=0,
        description="Score gap that weighs a match e times less than the best (softmax).",
    )
    overrule_factor: float = Field(
        2.0,
        ge=1,
        description=(
            "How many times the weight of the top match's cluster another cluster needs "
            "to be chosen instead."
        ),
    )
    min_radius_m: float = Field(
        25.0, ge=0, description="Smallest uncertainty radius an estimate claims, metres."
    )
    calibration_intercept: float = Field(
        -0.05,
        description=(
            "Confidence = sigmoid(intercept + slope * logit(share)), share being the "
            "winning cluster's part of the matches' weight."
        ),
    )
    calibration_slope: float = Field(
        0.85,
        gt=0,
        description="See calibration_intercept; above 0, so confidence rises with the share.",
    )


class ThumbnailSettings(BaseModel):
    """Small copies of reference photos, kept in the reference index at ingestion, shown by
    the web page."""

    enabled: bool = Field(
        True,
        description=(
            "Keep a thumbnail of each reference photo with it in the reference index "
            "(a JPEG of about 4-11 KB at 256 px); off: none are kept and the page shows none."
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
    restarts_dir: Path | None = Field(
        None,
        description=(
            "Folder where `geopin up` and `scripts/up` count the restarts of each process they "
            "supervise; the gateway reports them as geopin_supervisor_restarts_total. Unset: "
            "none counted (`geopin up` uses <data folder>/restarts, `scripts/up` .run/restarts)."
        ),
    )
