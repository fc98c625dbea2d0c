"""`scripts/up` as an operator runs it, twice on one machine on other ports than the defaults:
each deployment's processes use the Redis it started, each gateway has its own control
socket, and a worker killed with SIGKILL is restarted by its supervisor and counted."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import redis
import requests

from tests.support.factories import encode, place_photo
from tests.support.processes import children_of
from tests.support.stack import REPO, free_port, wait_until

SCRIPTS = REPO / "scripts"


@dataclass(frozen=True)
class Deployment:
    run: Path
    url: str
    redis_port: int
    env: dict[str, str]


def _script(name: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPTS / name), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@contextmanager
def deployed(tmp_path: Path, base_env: dict[str, str], name: str) -> Iterator[Deployment]:
    run, port, redis_port = tmp_path / name, free_port(), free_port()
    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/root"),
        **{k: v for k, v in base_env.items() if k != "GEOPIN_ELASTICSEARCH__URL"},
        "GEOPIN_RUN_DIR": str(run),
        "GEOPIN_PORT": str(port),
        "GEOPIN_REDIS_PORT": str(redis_port),
        "GEOPIN_ES_PORT": str(urlsplit(base_env["GEOPIN_ELASTICSEARCH__URL"]).port),
    }
    try:
        up = _script("up", env)
        assert up.returncode == 0, up.stderr
        yield Deployment(run, f"http://127.0.0.1:{port}", redis_port, env)
    finally:
        _script("down", env)
        _script("redis", env, "stop")


def _locate(deployment: Deployment) -> str:
    submitted = requests.post(
        f"{deployment.url}/v1/jobs",
        data=encode(place_photo(3)),
        headers={"Content-Type": "image/jpeg"},
        timeout=30,
    )
    assert submitted.status_code == 202, submitted.text
    job_id: str = submitted.json()["job_id"]
    job_url = f"{deployment.url}/v1/jobs/{job_id}"
    wait_until(
        lambda: requests.get(job_url, timeout=10).json()["status"] == "succeeded", 120, "a job"
    )
    return job_id


@pytest.mark.timeout(900)
def test_two_deployments_on_other_ports_keep_to_their_own_redis_and_control_socket(
    tmp_path: Path, base_env: dict[str, str], reference_manifest: Path
) -> None:
    with deployed(tmp_path, base_env, "first") as first:
        with deployed(tmp_path, base_env, "second") as second:
            for deployment in (first, second):
                job_id = _locate(deployment)
                own = redis.Redis(port=deployment.redis_port)
                assert own.exists(f"geopin:job:{job_id}"), "the job is not in its Redis"
                assert (deployment.run / "gateway.ctl").is_socket()
        assert not (second.run / "gateway.ctl").exists()  # gunicorn removed its own
        assert (first.run / "gateway.ctl").is_socket()  # and left the other's alone
        assert requests.get(f"{first.url}/healthz", timeout=10).status_code == 200


@pytest.mark.timeout(600)
def test_a_worker_killed_under_scripts_up_is_restarted_and_counted(
    tmp_path: Path, base_env: dict[str, str], reference_manifest: Path
) -> None:
    with deployed(tmp_path, base_env, "supervised") as deployment:
        supervisor = int((deployment.run / "pids" / "embedder.pid").read_text())
        (worker,) = children_of(supervisor)
        os.kill(worker.pid, signal.SIGKILL)

        def replaced() -> bool:
            children = children_of(supervisor)
            return len(children) == 1 and children[0].pid != worker.pid

        wait_until(replaced, 60, "a new embedder")
        metrics = requests.get(f"{deployment.url}/metrics", timeout=10).text
        assert 'geopin_supervisor_restarts_total{service="embedder"} 1.0' in metrics
        log = (deployment.run / "logs" / "embedder.log").read_text()
        assert "embedder exited (code -9); restarting it in 1 s" in log
        _locate(deployment)
