"""Which backends a deployment uses, decided from its settings alone.

Every process of a deployment reads the same settings, so every one makes the same choice
(docs/embedded.md): Redis or the embedded SQLite files for the queue, jobs and model presence;
Elasticsearch or the embedded index for references. In ``auto`` mode a server is used when its
URL is set in the environment, so configuring one switches with no other change.
:mod:`geopin.queue` picks its broker here, and :mod:`geopin.wiring` everything else.
"""

from __future__ import annotations

from geopin.settings import Mode, Settings


def uses_redis(settings: Settings) -> bool:
    """Redis for queue, jobs and presence: in servers mode, or when its URL was configured."""
    if settings.mode is not Mode.AUTO:
        return settings.mode is Mode.SERVERS
    return "url" in settings.redis.model_fields_set or settings.celery.broker_url is not None


def uses_elasticsearch(settings: Settings) -> bool:
    if settings.mode is not Mode.AUTO:
        return settings.mode is Mode.SERVERS
    return "url" in settings.elasticsearch.model_fields_set
