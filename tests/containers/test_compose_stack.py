"""The compose stack as it ships, built locally and run under podman (`scripts/containers test`).

The last test takes the stack down and up again; the others leave it as they found it.
"""

from __future__ import annotations

import io
import time
from pathlib import Path

import pytest
import requests
from geopin.client import GeoPinClient
from PIL import Image

from tests.containers.conftest import (
    CONTAINERS,
    RECEIVER_URL,
    ApiKey,
    container,
    logs,
    run,
)

pytestmark = pytest.mark.containers

GEOPIN_SERVICES = ["gateway", "embedder", "searcher", "notifier"]


def test_probes_and_metrics_answer_without_a_key(gateway_url: str, references: Path) -> None:
    ready = requests.get(gateway_url + "/readyz", timeout=10)
    assert ready.status_code == 200, ready.text
    metrics = requests.get(gateway_url + "/metrics", timeout=10)
    assert metrics.status_code == 200
    assert "geopin_http_requests_total" in metrics.text


def test_the_api_refuses_a_request_without_a_key(gateway_url: str) -> None:
    response = requests.get(gateway_url + "/v1/jobs/0123456789abcdef", timeout=10)
    assert response.status_code == 401
    assert response.json()["code"] == "missing-api-key"


def test_a_reference_photo_ingested_by_a_one_shot_container_is_its_own_top_match(
    client: GeoPinClient, references: Path
) -> None:
    job = client.wait(client.submit(references / "place-003.jpg"), 180)
    assert job["status"] == "succeeded", job
    assert job["result"]["matches"][0]["id"] == "place-003"


def test_a_thumbnail_written_by_the_one_shot_container_is_served_by_the_gateway(
    gateway_url: str, api_key: ApiKey, references: Path
) -> None:
    response = requests.get(
        f"{gateway_url}/v1/references/place-003/thumbnail",
        headers={"Authorization": f"Bearer {api_key.token}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "image/jpeg"
    with Image.open(io.BytesIO(response.content)) as picture:
        assert max(picture.size) <= 256


def test_a_receiver_container_gets_a_webhook_whose_signature_verifies(
    client: GeoPinClient, references: Path, receiver: str
) -> None:
    job_id = client.submit(references / "place-004.jpg", callback_url=RECEIVER_URL)
    assert client.wait(job_id, 180)["status"] == "succeeded"
    # The example receiver logs this line only after the signature verified (it answers 400
    # and logs nothing of the job otherwise).
    deadline = time.monotonic() + 60
    while f"job {job_id} located at" not in logs(receiver):
        assert time.monotonic() < deadline, logs(receiver)
        time.sleep(1)
    assert '"POST /geopin HTTP/1.1" 400' not in logs(receiver)


@pytest.mark.parametrize("service", [*GEOPIN_SERVICES, "redis", "elasticsearch"])
def test_every_process_runs_as_a_non_root_user(service: str) -> None:
    users = run("podman", "top", container(service), "user").split()[1:]
    assert users, f"no process in {container(service)}"
    assert "root" not in users, users
    assert "0" not in users, users


@pytest.mark.parametrize("service", GEOPIN_SERVICES)
def test_geopin_containers_have_a_read_only_root_and_a_writable_tmp(service: str) -> None:
    name = container(service)
    assert run("podman", "inspect", "-f", "{{.HostConfig.ReadonlyRootfs}}", name).strip() == "true"
    refused = run("podman", "exec", name, "sh", "-c", "touch /probe 2>&1 || true")
    assert "Read-only file system" in refused
    run("podman", "exec", name, "sh", "-c", "touch /tmp/probe && rm /tmp/probe")


@pytest.mark.timeout(1800)  # a stopped and restarted stack: minutes on a loaded machine
def test_jobs_references_and_the_model_outlive_down_and_up(
    client: GeoPinClient, references: Path
) -> None:
    job_id = client.submit(references / "place-005.jpg")
    assert client.wait(job_id, 180)["status"] == "succeeded"
    digest = "sha256sum /models/model.onnx"
    model_before = run("podman", "exec", container("embedder"), "sh", "-c", digest)

    run(CONTAINERS, "down", timeout=600)
    run(CONTAINERS, "up", timeout=1200)

    assert client.get(job_id)["status"] == "succeeded"  # Redis's AOF, on its volume
    again = client.wait(client.submit(references / "place-006.jpg"), 180)
    assert again["result"]["matches"][0]["id"] == "place-006"  # Elasticsearch's volume
    assert run("podman", "exec", container("embedder"), "sh", "-c", digest) == model_before
    assert "exists, keeping it" in logs(container("model-init"))
