"""Start GeoPin's own processes (gateway, workers) as real subprocesses for tests, and make
real outages: a Redis of a test's own to stop and start, a SQLite file to lock."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import redis
import requests

REPO = Path(__file__).resolve().parents[2]


# Delivery limits short enough for a task whose acknowledgement was lost (its worker killed,
# its broker restarted) to come back within a test, in the order production keeps them.
SHORT_DELIVERY_LIMITS = {
    "GEOPIN_CELERY__SOFT_TIME_LIMIT_S": "15",
    "GEOPIN_CELERY__HARD_TIME_LIMIT_S": "18",
    "GEOPIN_CELERY__VISIBILITY_TIMEOUT_S": "20",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Service:
    """One subprocess in its own process group, so a kill reaches its pool children too."""

    def __init__(self, name: str, argv: list[str], env: Mapping[str, str], log_dir: Path) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}-{time.monotonic_ns()}.log"
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            argv,
            cwd=REPO,
            env={**os.environ, **env},
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def log_tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def kill(self, sig: signal.Signals = signal.SIGKILL) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, sig)
        self.process.wait(timeout=30)
        self._log.close()

    def stop(self) -> None:
        """Warm shutdown (SIGTERM lets a worker finish its task), then SIGKILL if it lingers."""
        if self._log.closed:
            return  # killed or stopped already
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()


class Started:
    """Every process a test started, stopped when it ends (as a fixture's teardown), whether
    the test passed, failed, or killed some of them on purpose."""

    def __init__(self, log_dir: Path) -> None:
        self._log_dir = log_dir
        self._services: list[Service] = []

    def start(
        self, starter: Callable[[Mapping[str, str], Path], Service], env: Mapping[str, str]
    ) -> Service:
        service = starter(env, self._log_dir)
        self._services.append(service)
        return service

    def stop_all(self) -> None:
        for service in reversed(self._services):
            service.stop()


def start_embedder(env: Mapping[str, str], log_dir: Path) -> Service:
    return Service("embedder", [sys.executable, "-m", "geopin.worker", "embed"], env, log_dir)


def start_searcher(env: Mapping[str, str], log_dir: Path) -> Service:
    return Service("searcher", [sys.executable, "-m", "geopin.worker", "search"], env, log_dir)


def start_notifier(env: Mapping[str, str], log_dir: Path) -> Service:
    return Service("notifier", [sys.executable, "-m", "geopin.worker", "notify"], env, log_dir)


def start_gateway(env: Mapping[str, str], log_dir: Path) -> tuple[Service, str]:
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "gunicorn",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        "2",
        # gunicorn's default control socket is shared by every gateway of this user, and
        # each deletes it when it stops: tests start many, and control none.
        "--no-control-socket",
        "geopin_gateway.wsgi:app",
    ]
    service = Service("gateway", argv, env, log_dir)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: http_status(url + "/healthz") == 200, 60, f"gateway at {url}", service)
    except BaseException:
        service.kill()
        raise
    return service, url


def http_status(url: str) -> int | None:
    """The status a GET gets, or None while the server does not answer in time."""
    try:
        return requests.get(url, timeout=5).status_code
    except requests.RequestException:
        return None


def wait_until(
    predicate: object, timeout_s: float, what: str, service: Service | None = None
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if callable(predicate) and predicate():
            return
        if service is not None and service.process.poll() is not None:
            raise AssertionError(f"{service.name} exited early:\n{service.log_tail()}")
        time.sleep(0.05)
    tail = f"\n{service.log_tail()}" if service else ""
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}{tail}")


@contextmanager
def running_stack(env: Mapping[str, str], log_dir: Path) -> Iterator[str]:
    """Embedder, searcher and gateway, ready to locate photos; yields the gateway's URL."""
    services = [start_embedder(env, log_dir), start_searcher(env, log_dir)]
    try:
        gateway, url = start_gateway(env, log_dir)
        services.append(gateway)
        wait_until(lambda: http_status(url + "/readyz") == 200, 90, "readiness", services[0])
        yield url
    finally:
        for service in services:
            service.stop()


def delete_indices(es_url: str, alias: str) -> None:
    """Delete a test alias's indices by name: the server refuses wildcard deletes
    (``action.destructive_requires_name``), so ``DELETE <alias>-*`` alone removes nothing."""
    found = requests.get(f"{es_url}/{alias}-*", params={"allow_no_indices": "true"}, timeout=30)
    names = sorted(found.json()) if found.ok else []
    if names:
        requests.delete(f"{es_url}/{','.join(names)}", timeout=30).raise_for_status()


class RedisServer:
    """A ``redis-server`` of one test's own, on a free port, to stop and start again.

    It saves its data when stopped (SIGTERM with a save point configured) and loads it when
    started, so what was written before an outage is there after it.
    """

    def __init__(self, folder: Path) -> None:
        self._folder = folder
        self._folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        argv = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
        argv += ["--dir", str(self._folder), "--logfile", "redis.log"]
        argv += ["--save", "3600 1", "--appendonly", "no"]
        self._process = subprocess.Popen(argv)
        client = redis.Redis(port=self.port, socket_connect_timeout=1)

        def answers() -> bool:
            try:
                return bool(client.ping())
            except redis.RedisError:
                return False

        wait_until(answers, 20, f"redis-server on port {self.port}")

    def stop(self) -> None:
        """Save, then stop: clients get "connection refused" until the next start."""
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=20)

    def kill(self) -> None:
        """Whatever state it is in, leave no server behind."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait(timeout=20)

    @contextmanager
    def down(self) -> Iterator[None]:
        self.stop()
        try:
            yield
        finally:
            self.start()


@contextmanager
def write_locked(database: Path) -> Iterator[None]:
    """Hold a SQLite file's write lock, as a stuck writer in another process would."""
    conn = sqlite3.connect(database, isolation_level=None)
    try:
        conn.execute("BEGIN EXCLUSIVE")
        yield
        conn.execute("ROLLBACK")
    finally:
        conn.close()
