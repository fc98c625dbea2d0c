"""The one place that builds the backends behind GeoPin's interfaces.

Which ones is decided from the settings alone (:mod:`geopin.backends`, docs/embedded.md), so
every process of a deployment makes the same choice: Redis or the embedded SQLite files for
jobs and model presence; Elasticsearch or the embedded index for references. The Celery
broker follows the same choice (:mod:`geopin.queue`). What it returns are the interfaces
(JobStore, VectorIndex, ...): callers never learn which adapter they got, and each adapter
reports its backend's outages as the domain's errors (:mod:`geopin.outages`).
"""

from __future__ import annotations

import logging
from functools import partial
from pathlib import Path

import redis
from celery import Celery

from geopin.auth import KeyStore, RedisKeyStore, SigningSecrets
from geopin.backends import uses_elasticsearch, uses_redis
from geopin.backpressure import Backpressure
from geopin.index import IndexVersions, VectorIndex
from geopin.index.elasticsearch import ElasticsearchIndex, make_client
from geopin.index.elasticsearch_thumbnails import ElasticsearchThumbnails
from geopin.index.elasticsearch_versions import ElasticsearchVersions
from geopin.index.embedded import EmbeddedIndex, EmbeddedThumbnails
from geopin.index.embedded_schema import index_db
from geopin.index.embedded_versions import EmbeddedVersions
from geopin.jobs import JobStore
from geopin.jobs.redis import RedisJobStore
from geopin.jobs.sqlite import SqliteJobStore
from geopin.liveness import Liveness
from geopin.liveness.redis import RedisLiveness
from geopin.liveness.sqlite import SqliteLiveness
from geopin.presence import ModelPresence
from geopin.presence.redis import RedisPresence
from geopin.presence.sqlite import SqlitePresence
from geopin.queue import EMBED_QUEUE, enqueue_locate, enqueue_webhook
from geopin.queue.broker import Broker, RedisBroker, SqliteBroker
from geopin.queue.publish import QueueJob, RedisLocatePublisher
from geopin.settings import Settings
from geopin.sqlite import Database
from geopin.thumbnails import ThumbnailStore
from geopin.webhooks.delivery import Notifier
from geopin.webhooks.due import DueSet
from geopin.webhooks.log import RedisDeliveryLog
from geopin.webhooks.ssrf import SsrfGuard

log = logging.getLogger(__name__)


class NeedsRedis(RuntimeError):
    """A feature the embedded backends do not provide was asked for."""


def describe(settings: Settings) -> dict[str, str]:
    """Which backend plays each role: the names of /readyz's checks, for it and the logs.

    ``model`` is where embedding workers announce their loaded model (see geopin.presence).
    """
    store = "redis" if uses_redis(settings) else "sqlite"
    index = "elasticsearch" if uses_elasticsearch(settings) else "embedded numpy"
    return {"queue": store, "jobs": store, "index": index, "model": store}


def log_choice(settings: Settings, process: str) -> None:
    chosen = ", ".join(f"{role} {backend}" for role, backend in describe(settings).items())
    embedded = not (uses_redis(settings) and uses_elasticsearch(settings))
    data = f" (SQLite files in {settings.data_folder()})" if embedded else ""
    log.info("%s backends: %s%s", process, chosen, data)


def require_redis(settings: Settings, feature: str) -> None:
    """Refuse, in one line, a feature that exists only with Redis."""
    if not uses_redis(settings):
        raise NeedsRedis(
            f"{feature} needs Redis: set GEOPIN_REDIS__URL (the embedded mode has none)"
        )


def _file(settings: Settings, name: str) -> Path:
    return settings.data_folder() / name


def redis_client(settings: Settings) -> redis.Redis:
    # Bytes in, bytes out: uploads and vectors are binary.
    return redis.Redis.from_url(
        settings.redis.url, socket_timeout=5, socket_connect_timeout=5, health_check_interval=30
    )


def job_store(settings: Settings, client: redis.Redis | None = None) -> JobStore:
    if not uses_redis(settings):
        return SqliteJobStore(_file(settings, "jobs.db"), settings.jobs)
    return RedisJobStore(client or redis_client(settings), settings.jobs, settings.redis.key_prefix)


def presence(settings: Settings, client: redis.Redis | None = None) -> ModelPresence:
    if not uses_redis(settings):
        return SqlitePresence(_file(settings, "jobs.db"))
    return RedisPresence(client or redis_client(settings), settings.redis.key_prefix)


def liveness(settings: Settings, client: redis.Redis | None = None) -> Liveness:
    """Workers' liveness records and the fault counts, next to the jobs."""
    dead_after_s = settings.celery.presumed_dead_after_s
    if not uses_redis(settings):
        return SqliteLiveness(_file(settings, "jobs.db"), dead_after_s)
    return RedisLiveness(client or redis_client(settings), settings.redis.key_prefix, dead_after_s)


def broker(settings: Settings) -> Broker:
    """Reads the broker, which may be another Redis than the jobs': the lists KEDA watches,
    or the embedded transport's table."""
    if not uses_redis(settings):
        return SqliteBroker(_file(settings, "queue.db"))
    return RedisBroker(_broker_client(settings))


def _broker_client(settings: Settings) -> redis.Redis:
    return redis.Redis.from_url(
        settings.celery.broker_url or settings.redis.url, socket_timeout=5, socket_connect_timeout=5
    )


def job_queue(settings: Settings, celery: Celery) -> QueueJob:
    """How the gateway queues a job: one LPUSH of Celery's own message on Redis
    (geopin.queue.publish), Celery's publish on the embedded transport."""
    if not uses_redis(settings):
        return partial(enqueue_locate, celery)
    return RedisLocatePublisher(settings, _broker_client(settings))


def backpressure(settings: Settings, queues: Broker) -> Backpressure:
    """Watches the ``embed`` queue in the broker that ``queues`` reads."""
    length = partial(queues.queue_length, EMBED_QUEUE)
    return Backpressure(length, settings.limits.max_queued_jobs)


def rate_limit_storage(settings: Settings) -> str:
    """Where flask-limiter counts: Redis, shared by every gateway process; embedded, each
    gateway process counts on its own (a client may get up to workers x the limit)."""
    return settings.redis.url if uses_redis(settings) else "memory://"


def key_store(settings: Settings, client: redis.Redis | None = None) -> KeyStore:
    """API keys live in Redis only; with keys on, the embedded mode refuses to start."""
    if settings.auth.enabled:
        require_redis(settings, "GEOPIN_AUTH__ENABLED (API keys)")
    return RedisKeyStore(client or redis_client(settings), settings.redis.key_prefix)


def notifier(settings: Settings, celery: Celery, client: redis.Redis | None = None) -> Notifier:
    """The webhook notifier; ``celery`` sends its attempts to the ``webhooks`` queue.

    Embedded, no signing secret may be set, so every callback URL is refused at submission
    (400 webhooks-not-configured) and the Redis-backed delivery log is never reached.
    """
    if settings.webhooks.secret is not None:
        require_redis(settings, "webhooks (GEOPIN_WEBHOOKS__SECRET)")
    client = client or redis_client(settings)
    prefix = settings.redis.key_prefix
    return Notifier(
        jobs=job_store(settings, client),
        deliveries=RedisDeliveryLog(client, prefix, settings.jobs.result_ttl_s),
        due=DueSet(client, prefix),
        send=partial(enqueue_webhook, celery),
        guard=SsrfGuard(allow=settings.webhooks.insecure_allow_networks),
        signing_secrets=SigningSecrets(key_store(settings, client), settings.webhooks),
        settings=settings.webhooks,
    )


def _index_db(settings: Settings) -> Database:
    return index_db(_file(settings, "index.db"))


def vector_index(settings: Settings) -> VectorIndex:
    if not uses_elasticsearch(settings):
        return EmbeddedIndex(_index_db(settings), settings.elasticsearch.index)
    return ElasticsearchIndex(make_client(settings.elasticsearch), settings.elasticsearch)


def index_versions(settings: Settings) -> IndexVersions:
    if not uses_elasticsearch(settings):
        return EmbeddedVersions(_index_db(settings), settings.elasticsearch.index)
    return ElasticsearchVersions(make_client(settings.elasticsearch), settings.elasticsearch)


def thumbnail_store(settings: Settings) -> ThumbnailStore:
    """Thumbnails are kept with their references (geopin.thumbnails), so in the same backend."""
    if not uses_elasticsearch(settings):
        return EmbeddedThumbnails(_index_db(settings), settings.elasticsearch.index)
    return ElasticsearchThumbnails(make_client(settings.elasticsearch), settings.elasticsearch)
