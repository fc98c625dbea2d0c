"""What every GeoPin task shares: acknowledged after it ran, and retried on domain errors only."""

from __future__ import annotations

import geopin_embedder.tasks
import geopin_notifier.tasks
import geopin_searcher.tasks
from geopin.queue import app
from geopin.queue.retry import TRANSIENT_ERRORS

MODULES = (geopin_embedder.tasks, geopin_searcher.tasks, geopin_notifier.tasks)


def test_the_task_names_stay_those_queued_jobs_carry() -> None:
    declared = {
        t.name for t in app.tasks.values() if type(t).__module__ in {m.__name__ for m in MODULES}
    }
    assert declared == {"geopin.embed", "geopin.ingest", "geopin.search", "geopin.webhook"}


def test_every_task_is_acknowledged_late_and_retries_only_on_domain_errors() -> None:
    for name in ("geopin.embed", "geopin.ingest", "geopin.search", "geopin.webhook"):
        task = app.tasks[name]
        assert task.acks_late is True, name
        assert task.reject_on_worker_lost is True, name
        assert tuple(task.autoretry_for) == TRANSIENT_ERRORS, name
    # Adapters translate their libraries' errors, so no task names a Redis, SQLite or
    # Elasticsearch exception.
    assert all(error.__module__.startswith("geopin.") for error in TRANSIENT_ERRORS)
