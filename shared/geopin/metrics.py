"""Prometheus metrics of every GeoPin process, named once here.

The names are an interface: the Grafana dashboard (k8s/grafana/geopin.json) queries them
and tests/unit/test_dashboard.py fails when it asks for one not defined here. Metric objects
are module-level, as prometheus_client intends: defining one does no I/O, and each process
exports only those it touched.

The gateway runs several gunicorn processes: with ``PROMETHEUS_MULTIPROC_DIR`` set, each
writes its samples to files there and ``/metrics`` sums them (:func:`exposition`), so one
scrape sees the whole pod. Workers are one process each and serve their own registry on
``GEOPIN_METRICS__PORT`` (:func:`start_worker_server`). Queue depths are read from the broker
at scrape time by the gateway only (:class:`QueueDepths`): a gauge set by a loop would be
stale between scrapes and need a thread of its own. So are the signs of trouble the shared
stores keep (:class:`JobHealth`): stuck jobs, failures by code, redeliveries and requeued
orphans, which must outlive the worker that saw them and be seen where one scrape reaches.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    start_http_server,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from geopin.liveness import ORPHANS_REQUEUED, REDELIVERIES
from geopin.queue.names import EMBED_QUEUE, SEARCH_QUEUE, WEBHOOK_QUEUE

log = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
QUEUES = (EMBED_QUEUE, SEARCH_QUEUE, WEBHOOK_QUEUE)
# Task names of the pipeline, by the stage they are shown as.
STAGES = {"geopin.embed": "embed", "geopin.search": "search", "geopin.webhook": "webhook"}


def prepare_multiprocess_dir() -> None:
    """Create the multiprocess folder if configured: gunicorn's processes write files there."""
    folder = os.environ.get(MULTIPROC_ENV)
    if folder:
        os.makedirs(folder, exist_ok=True)


# In multiprocess mode prometheus_client opens this process's file for a metric without labels
# as soon as the metric is defined, below: the folder must exist first. (The image points it
# into /tmp, a fresh tmpfs in every container, so nothing else would create it.)
prepare_multiprocess_dir()

HTTP_REQUESTS = Counter(
    "geopin_http_requests_total",
    "Gateway requests answered, by route template, method and status.",
    ["route", "method", "status"],
)
HTTP_LATENCY = Histogram(
    "geopin_http_request_duration_seconds",
    "Gateway time to answer a request, by route template and method.",
    ["route", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
TASK_LATENCY = Histogram(
    "geopin_task_duration_seconds",
    "Time a worker spent on one task of a stage (embed, search, webhook delivery).",
    ["stage"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
TASK_FAILURES = Counter(
    "geopin_task_failures_total",
    "Tasks that raised, by stage and exception type (retried ones included).",
    ["stage", "code"],
)
JOBS_ENDED = Counter(
    "geopin_jobs_ended_total",
    "Jobs that reached a final status, by status and error code (empty when succeeded).",
    ["status", "code"],
)
BATCH_SIZE = Histogram(
    "geopin_embed_batch_size",
    "Photos per inference call of the embedding worker's micro-batcher.",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
)
MODEL_LOAD = Gauge(
    "geopin_model_load_seconds",
    "How long this worker took to load its model (ONNX session and first use).",
    multiprocess_mode="max",
)


def observe_http(route: str, method: str, status: int, seconds: float) -> None:
    HTTP_REQUESTS.labels(route, method, str(status)).inc()
    HTTP_LATENCY.labels(route, method).observe(seconds)


def stage_of(task_name: str) -> str | None:
    return STAGES.get(task_name)


class QueueDepths(Collector):
    """``geopin_queue_length{queue}``: each Celery queue's waiting tasks, read per scrape."""

    def __init__(self, length: Callable[[str], int]) -> None:
        self._length = length

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "geopin_queue_length",
            "Tasks waiting in a Celery queue (the broker list KEDA scales on).",
            labels=["queue"],
        )
        for queue in QUEUES:
            try:
                family.add_metric([queue], self._length(queue))
            except Exception as exc:  # a scrape must not fail because the broker is down
                log.warning("could not read the length of queue %s: %s", queue, exc)
        yield family


# Counters of geopin.liveness, by the fault they count: (metric name less _total, help).
FAULT_METRICS = {
    REDELIVERIES: (
        "geopin_task_redeliveries",
        "Tasks a worker received that had been delivered before (requeued orphans, "
        "visibility-timeout restores, warm-shutdown returns).",
    ),
    ORPHANS_REQUEUED: (
        "geopin_orphaned_tasks_requeued",
        "Tasks put back on their queue because the worker holding them stopped renewing "
        "its liveness record.",
    ),
}
OLDEST_RUNNING = "geopin_oldest_running_job_age_seconds"
JOBS_FAILED = "geopin_jobs_failed"
# Families the gateway reads per scrape, which no registry defines (the dashboard's test).
SCRAPED = (
    "geopin_queue_length",
    OLDEST_RUNNING,
    f"{JOBS_FAILED}_total",
    *(f"{name}_total" for name, _ in FAULT_METRICS.values()),
)


class JobHealth(Collector):
    """Stuck jobs and faults as the shared stores count them, for every worker, read per
    scrape: the age of the job running longest, failed jobs by code, and the
    :mod:`geopin.liveness` fault counts."""

    def __init__(
        self,
        oldest_running: Callable[[], float | None],
        failures: Callable[[], dict[str, int]],
        faults: Callable[[], dict[str, int]],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._oldest_running, self._failures, self._faults = oldest_running, failures, faults
        self._clock = clock

    def collect(self) -> Iterator[Metric]:
        try:  # a scrape must not fail because a store is down; the queue gauge shows that
            since, failures, faults = self._oldest_running(), self._failures(), self._faults()
        except Exception as exc:
            log.warning("could not read job health from the stores: %s", exc)
            return
        yield GaugeMetricFamily(
            OLDEST_RUNNING,
            "Seconds since the job running longest started running (0 when none runs).",
            value=0.0 if since is None else max(0.0, self._clock() - since),
        )
        failed = CounterMetricFamily(
            JOBS_FAILED,
            "Jobs that ended failed, by error code, as the job store counted them.",
            labels=["code"],
        )
        for code, count in sorted(failures.items()):
            failed.add_metric([code], count)
        yield failed
        for fault, (name, documentation) in FAULT_METRICS.items():
            yield CounterMetricFamily(name, documentation, value=faults.get(fault, 0))


class SupervisorRestarts(Collector):
    """``geopin_supervisor_restarts_total{service}``: how often ``geopin up`` or ``scripts/up``
    restarted each process, as their supervisors recorded it (geopin.supervisor)."""

    def __init__(self, counts: Callable[[], dict[str, int]]) -> None:
        self._counts = counts

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "geopin_supervisor_restarts",
            "Processes restarted by their supervisor after they exited on their own.",
            labels=["service"],
        )
        for service, count in self._counts().items():
            family.add_metric([service], count)
        yield family


def exposition(*extras: Collector) -> bytes:
    """This process's metrics (all gunicorn processes' in multiprocess mode) plus ``extras``."""
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # untyped upstream
        own = generate_latest(registry)
    else:
        own = generate_latest(REGISTRY)
    registry = CollectorRegistry()
    for extra in extras:
        registry.register(extra)
    return own + generate_latest(registry)


def start_worker_server(port: int) -> None:
    """Serve this worker's metrics over HTTP on ``port``; 0 leaves them off."""
    if port:
        start_http_server(port)
        log.info("metrics on :%d/metrics", port)
