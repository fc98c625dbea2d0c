"""The HTTP gateway: accepts photos, enqueues jobs, answers polls. It never runs the model."""

from __future__ import annotations

import logging

from flask import Flask
from geopin.metrics import JobHealth
from geopin.queue import make_celery
from geopin.settings import Settings
from geopin.supervisor import RestartCounts
from geopin.wiring import (
    backpressure,
    broker,
    job_queue,
    job_store,
    key_store,
    liveness,
    log_choice,
    notifier,
    presence,
    redis_client,
    thumbnail_store,
    vector_index,
)

from geopin_gateway.api import docs, health, jobs, references, web
from geopin_gateway.api.metrics import init_metrics
from geopin_gateway.context import Gateway
from geopin_gateway.drain import DrainUnreadBody
from geopin_gateway.problems import register_problem_handlers
from geopin_gateway.security import init_security

log = logging.getLogger(__name__)

# Room for the multipart envelope around an upload of the largest accepted size.
MULTIPART_OVERHEAD_BYTES = 64 * 1024


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or Settings()
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.images.max_upload_bytes + MULTIPART_OVERHEAD_BYTES
    client = redis_client(settings)
    celery = make_celery(settings, "geopin-gateway")
    queues = broker(settings)
    store = job_store(settings, client)
    app.extensions["geopin"] = Gateway(
        settings=settings,
        store=store,
        index=vector_index(settings),
        presence=presence(settings, client),
        celery=celery,
        queue_job=job_queue(settings, celery),
        keys=key_store(settings, client),
        notifier=notifier(settings, celery, client),
        backpressure=backpressure(settings, queues),
        broker=queues,
        thumbnails=thumbnail_store(settings),
    )
    log_choice(settings, "gateway")
    register_problem_handlers(app, settings.limits.retry_after_s)
    job_health = JobHealth(store.oldest_running, store.failures, liveness(settings, client).counts)
    restarts = settings.metrics.restarts_dir
    init_metrics(
        app,
        queues.queue_length,
        job_health,
        RestartCounts(restarts).read if restarts else None,
    )
    init_security(app, settings)
    if not settings.auth.enabled:
        log.warning("API keys are off: anyone who reaches this gateway can use it")
    app.register_blueprint(health.bp)
    app.register_blueprint(jobs.bp)
    app.register_blueprint(docs.bp)
    app.register_blueprint(references.bp)
    app.register_blueprint(web.bp)
    # Flask's documented way to wrap its WSGI callable; mypy sees a method being replaced.
    app.wsgi_app = DrainUnreadBody(app.wsgi_app, settings.limits.drain_bytes)  # type: ignore[method-assign]
    return app
