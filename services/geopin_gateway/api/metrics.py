"""``/metrics`` for Prometheus, and the per-request bookkeeping behind it and the logs.

Requests are counted by route template (``/v1/jobs/<job_id>``), never by path, so a job ID
does not become a time series. A request about one job binds its ID for the logs
(shared/geopin/logs.py); the submit view binds the new job's ID itself, once it exists.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from flask import Blueprint, Flask, Response, current_app, g, request
from geopin.logs import bind_job
from geopin.metrics import QueueDepths, SupervisorRestarts, exposition, observe_http
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

bp = Blueprint("metrics", __name__)
_QUEUES = "geopin-queue-depths"
_JOB_HEALTH = "geopin-job-health"
_RESTARTS = "geopin-supervisor-restarts"


@bp.get("/metrics")
def metrics() -> Response:
    """This pod's gateway metrics (every gunicorn process's), the queues' depths, the job
    store's signs of trouble now, and the supervisor's restarts where one runs the processes
    (geopin up, scripts/up)."""
    extensions = current_app.extensions
    extras = [extensions[_QUEUES], extensions[_JOB_HEALTH]]
    if _RESTARTS in extensions:
        extras.append(extensions[_RESTARTS])
    body = exposition(*extras)
    return Response(body, mimetype=CONTENT_TYPE_LATEST)


def _started() -> None:
    g.geopin_started = time.perf_counter()
    bind_job((request.view_args or {}).get("job_id"))


def _answered(response: Response) -> Response:
    route = request.url_rule.rule if request.url_rule is not None else "unmatched"
    started = g.get("geopin_started", time.perf_counter())  # absent if a hook answered first
    observe_http(route, request.method, response.status_code, time.perf_counter() - started)
    return response


def _done(_: BaseException | None) -> None:
    bind_job(None)  # gunicorn's next request on this thread may be about another job


def init_metrics(
    app: Flask,
    queue_length: Callable[[str], int],
    job_health: Collector,
    restarts: Callable[[], dict[str, int]] | None = None,
) -> None:
    """Request metrics on every route, and ``/metrics`` with the queues' lengths, the job
    health (geopin.metrics.JobHealth) and (under a supervisor) the restart counts, read per
    scrape."""
    app.extensions[_QUEUES] = QueueDepths(queue_length)
    app.extensions[_JOB_HEALTH] = job_health
    if restarts is not None:
        app.extensions[_RESTARTS] = SupervisorRestarts(restarts)
    app.before_request(_started)
    app.after_request(_answered)
    app.teardown_request(_done)
    app.register_blueprint(bp)
