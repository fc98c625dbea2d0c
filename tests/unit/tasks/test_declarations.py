"""What every GeoPin task shares: acknowledged after it ran, and retried on domain errors only."""

from __future__ import annotations

import geopin_embedder.tasks
import geopin_notifier.tasks
import geopin_searcher.tasks
from geopin.per_process import process_settings
from geopin.queue import app
from geopin.queue.job_task import JobTask
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
    for name in ("geopin.ingest", "geopin.webhook"):
        assert tuple(app.tasks[name].autoretry_for) == TRANSIENT_ERRORS, name
        assert app.tasks[name].max_retries == process_settings().celery.max_retries
    for name in ("geopin.embed", "geopin.search"):
        # A job's tasks wait out TRANSIENT_ERRORS for a time, not a number of retries.
        assert isinstance(app.tasks[name], JobTask), name
        assert not hasattr(app.tasks[name], "autoretry_for"), name
        assert app.tasks[name].max_retries is None, name
    # Adapters translate their libraries' errors, so no task names a Redis, SQLite or
    # Elasticsearch exception.
    assert all(error.__module__.startswith("geopin.") for error in TRANSIENT_ERRORS)
