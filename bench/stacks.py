"""The two ways a user runs GeoPin, started as that user would, for a benchmark to measure.

- :class:`EmbeddedStack`: ``geopin up`` with nothing but a data folder configured, so it picks
  the embedded queue, job store and index (docs/embedded.md).
- :class:`ServerStack`: ``scripts/up`` in a run folder of its own, with a Redis of its own on
  a free port and an Elasticsearch of its own (or a given one), stopped by
  ``scripts/down --all``.

Each knows its processes by role (:meth:`roles`), for :mod:`bench.proc_cpu`. Every setting
is the default except the ports, folders and the model file.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import requests

from tests.support.stack import REPO, delete_indices, free_port, http_status, wait_until

READY_TIMEOUT_S = 300  # a first start on a loaded machine loads the model and Elasticsearch
WORKER_ROLES = {"embed": "embedder", "search": "searcher", "notify": "notifier"}


def _cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text().split("\0")
    except OSError:
        return []


def _children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat[stat.rindex(")") + 2 :].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def role_of(argv: list[str]) -> str | None:
    """Which GeoPin process a command line starts: gateway, embedder, searcher, notifier."""
    if any(part.endswith("gunicorn") for part in argv):
        return "gateway"
    if "geopin.worker" in argv:
        following = argv[argv.index("geopin.worker") + 1 :]
        return WORKER_ROLES.get(following[0]) if following else None
    return None


class Stack:
    name: str
    url: str
    env: dict[str, str]

    def roles(self) -> Mapping[str, list[int]]:
        raise NotImplementedError

    def index(self, manifest: Path, report: Path) -> None:
        """Load reference photos with ``geopin index add``, as a user would."""
        command = [sys.executable, "-m", "geopin.cli", "index", "add", str(manifest)]
        # Benchmark photos are crops of a few photographs: keep them all.
        command += ["--no-quality", "--no-dedup", "--report", str(report)]
        subprocess.run(command, env=self.env, cwd=REPO, check=True, timeout=900)

    def warm_up(self) -> None:
        """Whatever a long-running deployment has done already (nothing, by default)."""

    def wait_answering(self) -> None:
        wait_until(lambda: http_status(f"{self.url}/healthz") == 200, READY_TIMEOUT_S, "gateway")

    def wait_ready(self) -> None:
        """Ready: model loaded, and an index to search (so after :meth:`index`)."""
        wait_until(lambda: http_status(f"{self.url}/readyz") == 200, READY_TIMEOUT_S, "readiness")


class EmbeddedStack(Stack):
    name = "geopin up (embedded)"

    def __init__(self, work: Path, model: Path) -> None:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("GEOPIN_")}
        self.env = {
            **inherited,
            "GEOPIN_DATA_DIR": str(work / "data"),
            "GEOPIN_MODEL__PATH": str(model),
        }
        self._log = (work / "geopin-up.log").open("ab")
        self._process = subprocess.Popen(
            [sys.executable, "-m", "geopin.cli", "up", "--port", str(port)],
            cwd=REPO,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def roles(self) -> Mapping[str, list[int]]:
        found: dict[str, list[int]] = {"geopin up": [self._process.pid]}
        for child in _children_of(self._process.pid):
            if role := role_of(_cmdline(child)):
                found.setdefault(role, []).append(child)
        return found

    def stop(self) -> None:
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)  # as Ctrl-C: every child stops warm
            self._process.wait(timeout=120)
        self._log.close()


class ServerStack(Stack):
    name = "scripts/up (Redis + Elasticsearch)"

    def __init__(self, work: Path, model: Path, elasticsearch: str | None) -> None:
        self._run = work / "run"
        self._run.mkdir(parents=True)
        work.chmod(0o755)  # the script runs Elasticsearch as a user of its own
        self._run.chmod(0o755)
        port, redis_port = free_port(), free_port()
        es_port = free_port()
        self._own_es = elasticsearch is None
        self._es = elasticsearch or f"http://127.0.0.1:{es_port}"
        self._alias = f"geopin-bench-{uuid.uuid4().hex[:8]}"
        self.url = f"http://127.0.0.1:{port}"
        self.env = {
            **os.environ,
            "GEOPIN_RUN_DIR": str(self._run),
            "GEOPIN_PORT": str(port),
            "GEOPIN_REDIS_PORT": str(redis_port),
            "GEOPIN_ES_PORT": str(es_port),
            "GEOPIN_REDIS__URL": f"redis://127.0.0.1:{redis_port}/0",
            "GEOPIN_ELASTICSEARCH__URL": self._es,
            "GEOPIN_ELASTICSEARCH__INDEX": self._alias,
            "GEOPIN_MODEL__PATH": str(model),
            "GEOPIN_MODE": "servers",
        }
        if not self._own_es:
            # Started and stopped by someone else: scripts/up must not start one.
            self.env["GEOPIN_ES_PORT"] = self._es.rsplit(":", 1)[-1].rstrip("/")
        with (work / "scripts-up.log").open("ab") as log:
            subprocess.run(
                [str(REPO / "scripts" / "up")],
                env=self.env,
                cwd=REPO,
                stdout=log,
                stderr=subprocess.STDOUT,
                check=True,
                timeout=READY_TIMEOUT_S,
            )
        if self._own_es:
            self.name += ", Elasticsearch of its own"
        else:
            self.name += f", Elasticsearch at {self._es} shared with others"

    def warm_up(self, searches: int = 300) -> None:
        """kNN searches with random vectors, as a node that has served a while has run: a
        fresh JVM compiles Lucene's vector code during its first hundreds of queries."""
        mapping = requests.get(f"{self._es}/{self._alias}/_mapping", timeout=30).json()
        (index,) = mapping.values()
        dims = int(index["mappings"]["properties"]["embedding"]["dims"])
        random = np.random.default_rng(0)
        session = requests.Session()
        for _ in range(searches):
            vector = random.standard_normal(dims)
            knn = {"field": "embedding", "k": 10, "num_candidates": 200}
            knn["rescore_vector"] = {"oversample": 3.0}
            knn["query_vector"] = (vector / np.linalg.norm(vector)).tolist()
            session.post(f"{self._es}/{self._alias}/_search", json={"knn": knn}, timeout=30)

    def _pid(self, path: Path) -> list[int]:
        try:
            pid = int(path.read_text().strip())
        except (OSError, ValueError):
            return []
        return [pid] if Path(f"/proc/{pid}").exists() else []

    def roles(self) -> Mapping[str, list[int]]:
        pids = self._run / "pids"
        found = {
            role: self._pid(pids / f"{role}.pid")
            for role in ("gateway", "embedder", "searcher", "notifier")
        }
        found["redis"] = self._pid(self._run / "redis" / "redis.pid")
        found["elasticsearch"] = self._es_pid()
        return found

    def _es_pid(self) -> list[int]:
        if self._own_es:
            return self._pid(self._run / "elasticsearch" / "elasticsearch.pid")
        nodes = requests.get(f"{self._es}/_nodes/_local/process", timeout=10).json()["nodes"]
        return [int(node["process"]["id"]) for node in nodes.values()]

    def stop(self) -> None:
        down = [str(REPO / "scripts" / "down"), *(["--all"] if self._own_es else [])]
        subprocess.run(down, env=self.env, cwd=REPO, check=False, timeout=300)
        if not self._own_es:
            subprocess.run(
                [str(REPO / "scripts" / "redis"), "stop"], env=self.env, cwd=REPO, check=False
            )
            delete_indices(self._es, self._alias)
