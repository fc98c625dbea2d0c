"""The one place that chooses and builds the backends behind GeoPin's interfaces."""

from __future__ import annotations

import redis

from shared.index.elasticsearch import ElasticsearchIndex, make_client
from shared.jobs import RedisJobStore
from shared.settings import Settings


def redis_client(settings: Settings) -> redis.Redis:
    # Bytes in, bytes out: uploads and vectors are binary.
    return redis.Redis.from_url(
        settings.redis.url, socket_timeout=5, socket_connect_timeout=5, health_check_interval=30
    )


def job_store(settings: Settings, client: redis.Redis | None = None) -> RedisJobStore:
    return RedisJobStore(client or redis_client(settings), settings.jobs, settings.redis.key_prefix)


def vector_index(settings: Settings) -> ElasticsearchIndex:
    return ElasticsearchIndex(make_client(settings.elasticsearch), settings.elasticsearch)
