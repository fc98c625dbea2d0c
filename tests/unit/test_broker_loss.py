"""A worker's configuration lives through losing its broker; one that cannot is refused."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from geopin.queue import app, celery_config, make_celery
from geopin.queue.broker_loss import WORKER_OPTIONS, can_stop_a_task
from geopin.settings import Mode, Settings

REPO = Path(__file__).resolve().parents[2]


def test_workers_let_tasks_in_flight_finish_when_the_broker_goes() -> None:
    # Cancelling them is what killed the thread-pool embedder on a Redis restart.
    assert celery_config(Settings())["worker_cancel_long_running_tasks_on_connection_loss"] is False
    cancelling = Settings(celery={"cancel_tasks_on_connection_loss": True})
    assert celery_config(cancelling)["worker_cancel_long_running_tasks_on_connection_loss"]


def test_workers_wait_for_the_broker_to_publish_where_the_gateway_answers_at_once(
    tmp_path: Path,
) -> None:
    policy = WORKER_OPTIONS["task_publish_retry_policy"]
    waited = sum(
        min(policy["interval_start"] + n * policy["interval_step"], policy["interval_max"])
        for n in range(policy["max_retries"])
    )
    assert waited >= 240  # a Redis restart, or a queue file held for minutes
    assert WORKER_OPTIONS["broker_pool_limit"] == 0  # no pooled channel outlives a restart
    gateway = make_celery(Settings(mode=Mode.EMBEDDED, data_dir=tmp_path)).conf
    assert gateway.task_publish_retry_policy["max_retries"] == 3  # Celery's: 503 within seconds


def test_the_workers_app_carries_the_worker_options(monkeypatch: pytest.MonkeyPatch) -> None:
    # Reads the process's settings, as a worker does; configured once, so compare values only.
    for name, value in WORKER_OPTIONS.items():
        assert app.conf[name] == value


@pytest.mark.parametrize(("pool", "can"), [("threads", False), ("solo", False), ("prefork", True)])
def test_only_pools_that_can_stop_a_running_task_may_cancel_on_connection_loss(
    pool: str, can: bool
) -> None:
    assert can_stop_a_task(pool) is can


def test_a_thread_pool_worker_told_to_cancel_on_connection_loss_refuses_with_one_line(
    tmp_path: Path,
) -> None:
    started = subprocess.run(
        [sys.executable, "-m", "geopin.worker", "search"],
        cwd=REPO,
        env={
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": ":".join(sys.path),
            "GEOPIN_MODE": "embedded",
            "GEOPIN_DATA_DIR": str(tmp_path),
            "GEOPIN_CELERY__CANCEL_TASKS_ON_CONNECTION_LOSS": "true",
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert started.returncode == 1
    last = started.stderr.strip().splitlines()[-1]
    assert last.startswith("geopin worker: GEOPIN_CELERY__CANCEL_TASKS_ON_CONNECTION_LOSS=true")
    assert "Traceback" not in started.stderr
