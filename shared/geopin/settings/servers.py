"""Settings of the servers GeoPin talks to: Redis, Elasticsearch, Celery."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field, SecretStr, model_validator


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
    max_retries: int = Field(
        3,
        ge=0,
        description=(
            "Retries of an ingestion or webhook task after a backend outage; a job's own tasks "
            "wait for outage_window_s instead."
        ),
    )
    outage_window_s: int = Field(
        180,
        ge=0,
        description=(
            "How long a job waits for an unavailable index or job store, seconds from the "
            "first failure, trying again 1, 2, 4, 8 s later, then every 10 s; then it fails "
            "with index-unavailable or queue-unavailable."
        ),
    )
    heartbeat_s: float = Field(
        5.0,
        gt=0,
        description=(
            "How often each worker renews its liveness record and looks for the tasks of "
            "workers presumed dead."
        ),
    )
    presumed_dead_after_s: float = Field(
        20.0,
        gt=0,
        description=(
            "A worker whose liveness record is older than this is presumed dead and the tasks "
            "it held go back on their queues; at least two heartbeats."
        ),
    )
    cancel_tasks_on_connection_loss: bool = Field(
        False,
        description=(
            "Stop the tasks a worker runs when it loses the broker (they are delivered again). "
            "Needs a pool that can stop a task (prefork, gevent, eventlet): a worker on threads, "
            "as GeoPin's are, refuses to start with it."
        ),
    )

    @model_validator(mode="after")
    def _limits_are_ordered(self) -> CelerySettings:
        if not self.soft_time_limit_s < self.hard_time_limit_s < self.visibility_timeout_s:
            raise ValueError(
                "need soft_time_limit_s < hard_time_limit_s < visibility_timeout_s, "
                "or a slow task is delivered twice while it still runs"
            )
        if self.presumed_dead_after_s < 2 * self.heartbeat_s:
            raise ValueError(
                "need presumed_dead_after_s >= 2 * heartbeat_s, or one late heartbeat "
                "makes a live worker's tasks run twice"
            )
        return self
