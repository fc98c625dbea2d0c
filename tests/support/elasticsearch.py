"""An Elasticsearch of one test's own, to stop and start while the shared one stays up for the
other tests, and reference photos indexed into an Elasticsearch with the real CLI."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from tests.support.stack import REPO, free_port


class OwnElasticsearch:
    """A node started by ``scripts/elasticsearch`` on a free port, in a folder of its own."""

    def __init__(self) -> None:
        self._run_dir = Path(tempfile.mkdtemp(prefix="geopin-es-outage-"))
        self._run_dir.chmod(0o755)  # started as root, the script runs it as its own user
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self._env = {
            **os.environ,
            "GEOPIN_ES_PORT": str(port),
            "GEOPIN_RUN_DIR": str(self._run_dir),
        }

    def _script(self, command: str) -> None:
        done = subprocess.run(
            [str(REPO / "scripts" / "elasticsearch"), command],
            env=self._env,
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
        assert done.returncode == 0, done.stderr

    def start(self) -> None:
        """Returns once the node answers with its indices' primaries allocated (a no-op when
        it is up already)."""
        self._script("start")

    def stop(self) -> None:
        """Returns once the process is gone (the script waits for it)."""
        self._script("stop")

    def remove(self) -> None:
        self.stop()  # a no-op when stopped already
        shutil.rmtree(self._run_dir, ignore_errors=True)


@contextmanager
def started_elasticsearch() -> Iterator[OwnElasticsearch]:
    """A started :class:`OwnElasticsearch`, stopped and deleted afterwards."""
    server = OwnElasticsearch()
    try:
        server.start()
        yield server
    finally:
        server.remove()


def index_references(manifest: Path, env: Mapping[str, str]) -> str:
    """Index a manifest's photos with ``geopin index add`` under ``env``; returns its output."""
    report = manifest.parent / "ingest-report.jsonl"
    argv = [sys.executable, "-m", "geopin.cli", "index", "add", str(manifest)]
    result = subprocess.run(
        [*argv, "--report", str(report)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout
