"""`geopin up` and the `geopin` command as subprocesses, with nothing but a data folder
configured, so `auto` picks the embedded backends."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.stack import REPO, http_status, wait_until

GEOPIN = [sys.executable, "-m", "geopin.cli"]


def embedded_env(data: Path, model_path: Path) -> dict[str, str]:
    """The caller's environment without any server URL, so `auto` picks the embedded parts."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GEOPIN_")}
    return {
        **env,
        "GEOPIN_DATA_DIR": str(data),
        "GEOPIN_MODEL__PATH": str(model_path),
        "GEOPIN_MODEL__INTRA_OP_THREADS": "1",
    }


@dataclass(frozen=True)
class RunningUp:
    url: str
    process: subprocess.Popen[bytes]


@contextmanager
def geopin_up(env: dict[str, str], port: int, log: Path) -> Iterator[RunningUp]:
    """`geopin up` until the block ends (then stopped by SIGTERM, which must end it cleanly)."""
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
        yield RunningUp(url, process)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0, log.read_text()


def run_geopin(
    env: dict[str, str], *args: str, timeout_s: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*GEOPIN, *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
