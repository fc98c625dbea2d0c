"""`geopin up` with nothing configured: the embedded stack, end to end, across a restart."""

from __future__ import annotations

import json
from pathlib import Path

import requests

from tests.support.factories import write_reference_set
from tests.support.geopin_up import embedded_env, geopin_up, run_geopin
from tests.support.stack import free_port, http_status, wait_until

PHOTOS = 4


def test_geopin_up_serves_locates_and_keeps_its_state_across_a_restart(
    tmp_path: Path, model_path: Path
) -> None:
    env = embedded_env(tmp_path / "data", model_path)
    manifest = write_reference_set(tmp_path / "refs", PHOTOS)
    photo = manifest.parent / "place-002.jpg"
    port, log = free_port(), tmp_path / "up.log"
    with geopin_up(env, port, log) as up:
        url = up.url
        report = str(tmp_path / "r.jsonl")
        added = run_geopin(env, "index", "add", str(manifest), "--report", report)
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
        located = run_geopin(env, "locate", str(photo), "--url", url, "--json")
        assert located.returncode == 0, located.stderr
        assert json.loads(located.stdout)["result"]["matches"][0]["id"] == "place-002"

        second = run_geopin(env, "up", "--port", str(free_port()))
        assert second.returncode != 0
        assert "another `geopin up` (pid" in second.stderr

    with geopin_up(env, port, log):
        job = requests.get(job_url, timeout=5).json()
        assert job["result"]["matches"][0]["id"] == "place-002"
        listed = run_geopin(env, "index", "list")
        assert f"{PHOTOS}" in listed.stdout, listed.stderr
