"""The HTTP gateway: accepts photos, enqueues jobs, answers polls. It never runs the model."""

from __future__ import annotations

from flask import Flask

from services.gateway.api import health, jobs
from services.gateway.context import Gateway
from services.gateway.problems import register_problem_handlers
from shared.backends import job_store, redis_client, vector_index
from shared.celery_app import make_celery
from shared.model.presence import ModelPresence
from shared.settings import Settings

# Room for the multipart envelope around an upload of the largest accepted size.
MULTIPART_OVERHEAD_BYTES = 64 * 1024


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or Settings()
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.images.max_upload_bytes + MULTIPART_OVERHEAD_BYTES
    client = redis_client(settings)
    app.extensions["geopin"] = Gateway(
        settings=settings,
        store=job_store(settings, client),
        index=vector_index(settings),
        presence=ModelPresence(client, settings.redis.key_prefix),
        celery=make_celery(settings, "geopin-gateway"),
    )
    register_problem_handlers(app)
    app.register_blueprint(health.bp)
    app.register_blueprint(jobs.bp)
    return app
