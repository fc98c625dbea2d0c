"""Typed settings, read from the environment with the prefix ``GEOPIN_``.

Nested groups use a double underscore: ``GEOPIN_REDIS__URL``, ``GEOPIN_MODEL__PATH``.
Every setting is documented once, in this package, by its ``description``; ``geopin settings``
prints them all with their defaults, and docs/configuration.md
is generated from the same source.
"""

from __future__ import annotations

import json
import os
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, Field
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, SettingsConfigDict

from geopin.settings.api import (
    AuthSettings,
    JobSettings,
    LimitSettings,
    LocationSettings,
    MetricsSettings,
    ThumbnailSettings,
    WebhookSettings,
    WebSettings,
)
from geopin.settings.ingest import DedupSettings, IngestSettings, QualitySettings
from geopin.settings.model import ImageSettings, ModelSettings, ResizePolicy
from geopin.settings.servers import (
    CelerySettings,
    ElasticsearchSettings,
    RedisSettings,
    VectorIndexType,
)

__all__ = [
    "AuthSettings",
    "CelerySettings",
    "DedupSettings",
    "ElasticsearchSettings",
    "ImageSettings",
    "IngestSettings",
    "JobSettings",
    "LimitSettings",
    "LocationSettings",
    "LogFormat",
    "MetricsSettings",
    "Mode",
    "ModelSettings",
    "QualitySettings",
    "RedisSettings",
    "ResizePolicy",
    "Settings",
    "ThumbnailSettings",
    "VectorIndexType",
    "WebSettings",
    "WebhookSettings",
    "settings_reference",
]


class LogFormat(StrEnum):
    """How GeoPin processes write their log lines."""

    TEXT = "text"  # for people reading a terminal or a log file
    JSON = "json"  # one object per line, with job_id, for log collectors


class Mode(StrEnum):
    """Which backends GeoPin uses: servers (Redis, Elasticsearch) or its embedded ones."""

    AUTO = "auto"  # servers for what has its URL set in the environment, embedded for the rest
    EMBEDDED = "embedded"  # a data folder on this machine, whatever URLs are set
    SERVERS = "servers"  # Redis and Elasticsearch, at their URLs or the defaults


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
