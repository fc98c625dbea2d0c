"""Fixtures for the tests against the compose stack that ``scripts/containers test`` starts.

GeoPin is reached over HTTP only, as a user reaches it; podman serves for what an operator
does by hand (one-shot containers, a webhook receiver) and to look at the containers
themselves. Without the stack the tests fail, never skip.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from geopin.client import GeoPinClient

from tests.support.factories import write_reference_set

ROOT = Path(__file__).resolve().parents[2]
CONTAINERS = ROOT / "scripts" / "containers"
PROJECT = os.environ.get("COMPOSE_PROJECT_NAME", "geopin")
IMAGE_TAG = os.environ.get("IMAGE_TAG", "0.1.0")
GATEWAY_URL = f"http://127.0.0.1:{os.environ.get('GATEWAY_PORT', '8000')}"
REFERENCE_COUNT = 8
# The stack's network (podman-compose names it after the project) and the receiver's name on it.
NETWORK = f"{PROJECT}_default"
RECEIVER_URL = "http://receiver:9000/geopin"


def run(*command: str | Path, timeout: float = 600) -> str:
    """Runs a command to completion; its stdout, or a failure that shows what it printed."""
    result = subprocess.run(
        [str(part) for part in command],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, (command, result.stdout[-3000:], result.stderr[-3000:])
    return result.stdout


def compose(*args: str | Path, timeout: float = 600) -> str:
    """podman-compose with the files and settings of the stack under test."""
    return run(CONTAINERS, "compose", *args, timeout=timeout)


def container(service: str) -> str:
    return f"{PROJECT}_{service}_1"


@dataclass(frozen=True)
class ApiKey:
    token: str
    webhook_secret: str


@pytest.fixture(scope="session")
def gateway_url() -> str:
    try:
        # /healthz: /readyz waits for a reference index, which the tests make.
        requests.get(GATEWAY_URL + "/healthz", timeout=10).raise_for_status()
    except requests.RequestException as exc:
        pytest.fail(f"no gateway at {GATEWAY_URL} ({exc}); run `scripts/containers test`")
    return GATEWAY_URL


@pytest.fixture(scope="session")
def api_key(gateway_url: str) -> ApiKey:
    """A key made as an operator makes one: `geopin keys create` in a one-shot container."""
    printed = compose("run", "--rm", "--no-deps", "gateway", "geopin", "keys", "create", "test")
    fields = dict(line.split(":", 1) for line in printed.splitlines() if ":" in line)
    return ApiKey(fields["API key"].strip(), fields["webhook secret"].strip())


@pytest.fixture
def client(gateway_url: str, api_key: ApiKey) -> GeoPinClient:
    return GeoPinClient(gateway_url, api_key=api_key.token)


@pytest.fixture(scope="session")
def references(gateway_url: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Reference photos ingested by a one-shot embedder container from a mounted folder."""
    folder = tmp_path_factory.mktemp("references")
    folder.chmod(0o755)  # the container's user (uid 10001) reads it
    write_reference_set(folder, REFERENCE_COUNT)
    compose(
        "run", "--rm", "--no-deps", "-v", f"{folder}:/refs:ro",
        # The root file system is read-only: the report goes to the tmpfs, the thumbnails
        # into the reference index with their references.
        "embedder", "geopin", "index", "add", "/refs/manifest.csv",
        "--report", "/tmp/ingest-report.jsonl",  # noqa: S108  (the container's own tmpfs)
    )  # fmt: skip
    return folder


@pytest.fixture
def receiver(api_key: ApiKey) -> Iterator[str]:
    """GeoPin's example receiver in a container on the stack's network; yields its name."""
    name = f"{PROJECT}-receiver"
    run("podman", "rm", "-f", "-t", "0", name)
    run(
        "podman", "run", "-d", "--name", name, "--network", NETWORK,
        "--network-alias", "receiver", "--read-only", "--user", "10001:10001",
        "-e", f"GEOPIN_WEBHOOK_SECRET={api_key.webhook_secret}",
        "-v", f"{ROOT / 'examples'}:/examples:ro",
        f"geopin/gateway:{IMAGE_TAG}",
        # Every address of the container (S104), so the notifier's container reaches it.
        "flask", "--app", "/examples/webhook_receiver.py", "run", "--host", "0.0.0.0",  # noqa: S104
        "--port", "9000",
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while "Running on" not in logs(name):
        assert time.monotonic() < deadline, logs(name)
        time.sleep(0.5)
    yield name
    run("podman", "rm", "-f", "-t", "0", name)


def logs(name: str) -> str:
    result = subprocess.run(
        ["podman", "logs", name], capture_output=True, text=True, timeout=60, check=True
    )
    return result.stdout + result.stderr
