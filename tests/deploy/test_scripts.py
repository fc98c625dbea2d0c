"""The service scripts hold on any machine: the URLs the processes use are those of the servers
the script starts, and package installs wait for another install's dpkg lock (bounded)."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.deploy.artefacts import ROOT

DPKG_LOCK = Path("/var/lib/dpkg/lock-frontend")


def _up(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ROOT / "scripts" / "up")],
        env={"PATH": os.environ["PATH"], "GEOPIN_RUN_DIR": str(tmp_path / "run"), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("env", "named"),
    [
        (
            {"GEOPIN_REDIS_PORT": "6390", "GEOPIN_REDIS__URL": "redis://127.0.0.1:6379/0"},
            "GEOPIN_REDIS__URL=redis://127.0.0.1:6379/0",
        ),
        ({"GEOPIN_REDIS__URL": "redis://cache.internal:6379/0"}, "GEOPIN_REDIS__URL="),
        (
            {"GEOPIN_ES_PORT": "9250", "GEOPIN_ELASTICSEARCH__URL": "http://localhost:9200"},
            "GEOPIN_ELASTICSEARCH__URL=http://localhost:9200",
        ),
        (
            {"GEOPIN_REDIS_PORT": "6390", "GEOPIN_CELERY__BROKER_URL": "redis://127.0.0.1:6379"},
            "GEOPIN_CELERY__BROKER_URL=",
        ),
    ],
)
def test_up_refuses_a_url_that_is_not_the_server_it_starts_before_starting_anything(
    tmp_path: Path, env: dict[str, str], named: str
) -> None:
    refused = _up(tmp_path, **env)
    assert refused.returncode == 1
    assert refused.stderr.count("\n") == 1, refused.stderr
    assert refused.stderr.startswith(f"up: error: {named}")
    assert "is not the server this script runs" in refused.stderr
    assert not (tmp_path / "run").exists()  # no Redis, no worker, not even a log folder


def _url(name: str, **env: str) -> str:
    """What scripts/up gives the processes for ``name`` (lib.sh's local_url, as up calls it)."""
    ports = {"GEOPIN_REDIS__URL": ("redis", "GEOPIN_REDIS_PORT", "6379", "/0")}
    ports["GEOPIN_ELASTICSEARCH__URL"] = ("http", "GEOPIN_ES_PORT", "9200", "")
    scheme, port_var, default, path = ports[name]
    script = (
        f'source scripts/lib.sh && local_url {name} {scheme} "${{{port_var}:-{default}}}" '
        f"{port_var} {path}"
    )
    done = subprocess.run(
        ["bash", "-c", script],
        cwd=ROOT,
        env={"PATH": os.environ["PATH"], **env},
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return done.stdout.strip()


def test_the_urls_follow_the_ports_and_a_url_naming_the_same_server_is_kept() -> None:
    assert _url("GEOPIN_REDIS__URL", GEOPIN_REDIS_PORT="6390") == "redis://127.0.0.1:6390/0"
    assert _url("GEOPIN_ELASTICSEARCH__URL", GEOPIN_ES_PORT="9250") == "http://127.0.0.1:9250"
    assert _url("GEOPIN_REDIS__URL") == "redis://127.0.0.1:6379/0"
    kept = "redis://:secret@localhost:6390/3"
    assert _url("GEOPIN_REDIS__URL", GEOPIN_REDIS_PORT="6390", GEOPIN_REDIS__URL=kept) == kept


@contextmanager
def _dpkg_locked(seconds: float) -> Iterator[None]:
    """Hold dpkg's frontend lock as another install would (apt takes it with fcntl), for
    ``seconds`` or until the block ends, whichever comes first."""
    held, done = threading.Event(), threading.Event()

    def hold() -> None:
        with DPKG_LOCK.open("w") as lock:
            fcntl.lockf(lock, fcntl.LOCK_EX)
            held.set()
            done.wait(seconds)

    holder = threading.Thread(target=hold)
    holder.start()
    assert held.wait(30), "could not take the dpkg lock"
    try:
        yield
    finally:
        done.set()
        holder.join()


def _apt_install(**env: str) -> subprocess.CompletedProcess[str]:
    # An installed package, without upgrading it: the install needs the lock and nothing else.
    return subprocess.run(
        ["bash", "-c", "source scripts/lib.sh && apt_install --no-upgrade bash"],
        cwd=ROOT,
        env={"PATH": os.environ["PATH"], "GEOPIN_TOOL": "test", **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


needs_apt_as_root = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("apt-get") is None or not DPKG_LOCK.exists(),
    reason="installs packages only as root on Debian (CI runs there as root)",
)


@needs_apt_as_root
def test_a_package_install_waits_for_another_install_to_release_the_dpkg_lock() -> None:
    with _dpkg_locked(15):
        started = time.monotonic()
        installed = _apt_install()
        waited = time.monotonic() - started
    assert installed.returncode == 0, installed.stderr
    assert waited >= 14  # it got the lock when the other install let it go


@needs_apt_as_root
def test_a_package_install_gives_up_on_a_dpkg_lock_held_past_its_bound() -> None:
    # It waits 2 s, refreshes the package lists (their lock is free), waits 2 s again.
    with _dpkg_locked(120):
        started = time.monotonic()
        refused = _apt_install(GEOPIN_APT_LOCK_WAIT_S="2")
        waited = time.monotonic() - started
    assert refused.returncode == 1
    assert refused.stderr.splitlines()[-1].startswith("test: error: apt-get install -y")
    assert 4 <= waited < 90
