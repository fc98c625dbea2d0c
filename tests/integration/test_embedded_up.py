"""`geopin up` with nothing configured: the embedded stack, end to end, across a restart."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

from tests.support.factories import write_reference_set
from tests.support.stack import REPO, free_port, http_status, wait_until

PHOTOS = 4
GEOPIN = [sys.executable, "-m", "geopin.cli"]


def _env(data: Path, model_path: Path) -> dict[str, str]:
    """The caller's environment without any server URL, so `auto` picks the embedded parts."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GEOPIN_")}
    return {
        **env,
        "GEOPIN_DATA_DIR": str(data),
        "GEOPIN_MODEL__PATH": str(model_path),
        "GEOPIN_MODEL__INTRA_OP_THREADS": "1",
    }


@contextmanager
def geopin_up(env: dict[str, str], port: int, log: Path) -> Iterator[str]:
    with log.open("ab") as out:
        process = subprocess.Popen(
            [*GEOPIN, "up", "--port", str(port), "--gateway-workers", "1"],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: http_status(f"{url}/healthz") == 200, 90, "geopin up")
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0, log.read_text()


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*GEOPIN, *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_geopin_up_serves_locates_and_keeps_its_state_across_a_restart(
    tmp_path: Path, model_path: Path
) -> None:
    env = _env(tmp_path / "data", model_path)
    manifest = write_reference_set(tmp_path / "refs", PHOTOS)
    photo = manifest.parent / "place-002.jpg"
    port, log = free_port(), tmp_path / "up.log"
    with geopin_up(env, port, log) as url:
        added = _run(env, "index", "add", str(manifest), "--report", str(tmp_path / "r.jsonl"))
        assert f"indexed {PHOTOS} photo(s)" in added.stdout, added.stderr
        wait_until(lambda: http_status(f"{url}/readyz") == 200, 60, "readiness")
        ready = requests.get(f"{url}/readyz", timeout=5).json()
        backends = {role: check["backend"] for role, check in ready["checks"].items()}
        assert backends == {
            "queue": "sqlite",
            "jobs": "sqlite",
            "index": "embedded numpy",
            "model": "sqlite",
        }

        with photo.open("rb") as image:
            submitted = requests.post(f"{url}/v1/jobs", files={"image": image}, timeout=10)
        assert submitted.status_code == 202
        job_url = f"{url}/v1/jobs/{submitted.json()['job_id']}"
        wait_until(
            lambda: requests.get(job_url, timeout=5).json()["status"] == "succeeded", 60, "job"
        )
        located = _run(env, "locate", str(photo), "--url", url)
        assert located.returncode == 0, located.stderr
        assert json.loads(located.stdout)["result"]["matches"][0]["id"] == "place-002"

        second = _run(env, "up", "--port", str(free_port()))
        assert second.returncode != 0
        assert "another `geopin up` (pid" in second.stderr

    with geopin_up(env, port, log) as url:
        job = requests.get(job_url, timeout=5).json()
        assert job["result"]["matches"][0]["id"] == "place-002"
        listed = _run(env, "index", "list")
        assert f"{PHOTOS}" in listed.stdout, listed.stderr
