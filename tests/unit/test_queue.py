"""The one Celery configuration: at-least-once delivery under either broker, and an app that
Celery's command line finds without building or configuring anything on import."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from celery import Celery
from geopin.queue import celery_config, make_celery
from geopin.settings import Mode, Settings

REPO = Path(__file__).resolve().parents[2]
SERVERS = Settings(mode=Mode.SERVERS, redis={"url": "redis://redis:6379/2"})


def embedded(data_dir: Path) -> Settings:
    return Settings(mode=Mode.EMBEDDED, data_dir=data_dir)


@pytest.mark.parametrize("broker", ["redis", "embedded"])
def test_a_task_outlives_the_death_of_its_worker_under_either_broker(
    broker: str, tmp_path: Path
) -> None:
    settings = SERVERS if broker == "redis" else embedded(tmp_path)
    config = celery_config(settings)
    assert config["task_acks_late"] is True
    assert config["task_reject_on_worker_lost"] is True
    assert config["worker_prefetch_multiplier"] == 1
    limits = settings.celery
    assert config["broker_transport_options"]["visibility_timeout"] == limits.visibility_timeout_s
    assert (config["task_soft_time_limit"], config["task_time_limit"]) == (
        limits.soft_time_limit_s,
        limits.hard_time_limit_s,
    )
    assert config["task_annotations"] == {
        "geopin.ingest": {"max_retries": limits.max_retries},
        "geopin.webhook": {"max_retries": limits.max_retries},
    }
    assert config["task_serializer"] == "json"
    assert config["accept_content"] == ["json"]
    assert config["task_ignore_result"] is True


def test_the_redis_broker_is_the_celery_broker_url_or_else_the_redis_url() -> None:
    assert celery_config(SERVERS)["broker_url"] == "redis://redis:6379/2"
    own = Settings(mode=Mode.SERVERS, celery={"broker_url": "redis://broker:6379/0"})
    assert celery_config(own)["broker_url"] == "redis://broker:6379/0"
    assert "worker_enable_remote_control" not in celery_config(SERVERS)


def test_the_embedded_broker_is_a_file_of_the_data_folder_without_remote_control(
    tmp_path: Path,
) -> None:
    config = celery_config(embedded(tmp_path))
    assert config["broker_url"] == "geopin-sqlite://"
    assert config["broker_transport_options"]["database"] == str(tmp_path / "queue.db")
    assert config["worker_enable_remote_control"] is False


def test_an_app_made_for_given_settings_uses_them(tmp_path: Path) -> None:
    app = make_celery(embedded(tmp_path))
    assert isinstance(app, Celery)
    for name, value in celery_config(embedded(tmp_path)).items():
        assert app.conf[name] == value, name


IMPORT_EVERY_WORKER = """
from celery.app.utils import find_app
import geopin.worker, geopin_embedder.tasks, geopin_searcher.tasks, geopin_notifier.tasks
from geopin.queue import app

assert not app.configured, "importing configured the app"
assert find_app("geopin_embedder.tasks") is app
assert find_app("geopin.queue") is app
print(app.conf.broker_transport_options["database"])
print(app.tasks["geopin.ingest"].max_retries)
"""


def test_importing_the_workers_configures_nothing_and_builds_nothing(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("GEOPIN_")}
    env.update(GEOPIN_MODE="embedded", GEOPIN_DATA_DIR=str(data), GEOPIN_CELERY__MAX_RETRIES="5")
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_EVERY_WORKER],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    # Configured on first use, from the environment: the queue is a file of the data folder,
    # which nothing has created yet (no job store, no queue, no index).
    assert result.stdout.split() == [str(data / "queue.db"), "5"]
    assert not data.exists()
