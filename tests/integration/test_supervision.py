"""Drills on `geopin up`'s supervision: a worker killed with SIGKILL is started again, counted
on the gateway's /metrics, and serves jobs; a stop hurried by a second SIGTERM leaves no
process behind."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import requests

from tests.support.factories import encode, place_photo, write_reference_set
from tests.support.geopin_up import embedded_env, geopin_up, run_geopin
from tests.support.processes import Process, alive_in_sessions, children_of
from tests.support.stack import free_port, wait_until

RESTARTED_WITHIN_S = 60  # backoff 1 s, then a model load; generous, the machine is shared


def _embedder(up_pid: int) -> Process | None:
    found = [p for p in children_of(up_pid) if "geopin.worker embed" in p.command]
    return found[0] if found else None


def test_a_worker_killed_under_geopin_up_is_restarted_counted_and_serves_again(
    tmp_path: Path, model_path: Path
) -> None:
    env = embedded_env(tmp_path / "data", model_path)
    port, log = free_port(), tmp_path / "up.log"
    url = f"http://127.0.0.1:{port}"
    manifest = write_reference_set(tmp_path / "refs", 4)
    with geopin_up(env, port, log) as up:
        killed = _embedder(up.process.pid)
        assert killed is not None
        os.kill(killed.pid, signal.SIGKILL)

        def replaced() -> bool:
            embedder = _embedder(up.process.pid)
            return embedder is not None and embedder.pid != killed.pid

        wait_until(replaced, RESTARTED_WITHIN_S, "a new embedder")
        assert "embedder exited (code -9); restarting it in 1 s" in log.read_text()
        metrics = requests.get(f"{url}/metrics", timeout=10).text
        assert 'geopin_supervisor_restarts_total{service="embedder"} 1.0' in metrics
        assert 'geopin_supervisor_restarts_total{service="searcher"} 0.0' in metrics
        report = str(tmp_path / "ingest-report.jsonl")
        assert run_geopin(env, "index", "add", str(manifest), "--report", report).returncode == 0
        photo = encode(place_photo(1))
        submitted = requests.post(
            f"{url}/v1/jobs", data=photo, headers={"Content-Type": "image/jpeg"}, timeout=10
        )
        assert submitted.status_code == 202, submitted.text
        job_url = f"{url}/v1/jobs/{submitted.json()['job_id']}"
        wait_until(
            lambda: requests.get(job_url, timeout=5).json()["status"] == "succeeded",
            RESTARTED_WITHIN_S,
            "a job embedded by the new worker",
        )


def test_a_second_sigterm_while_geopin_up_stops_leaves_no_process_behind(
    tmp_path: Path, model_path: Path
) -> None:
    env = embedded_env(tmp_path / "data", model_path)
    port, log = free_port(), tmp_path / "up.log"
    with geopin_up(env, port, log) as up:
        sessions = {child.pid for child in children_of(up.process.pid)}  # each child leads its own
        assert len(sessions) == 3, children_of(up.process.pid)
        assert alive_in_sessions(sessions), "nothing to stop"
        up.process.send_signal(signal.SIGTERM)
        time.sleep(0.3)  # the workers are in their warm shutdown now
        up.process.send_signal(signal.SIGTERM)
        assert up.process.wait(timeout=60) == 0, log.read_text()
    assert alive_in_sessions(sessions) == []
