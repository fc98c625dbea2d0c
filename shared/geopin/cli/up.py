"""``geopin up``: the whole service on this machine, as child processes, until Ctrl-C.

The same processes as a deployment (gunicorn with the gateway, the embedding and search
workers, the notifier when webhooks are configured), each with its log in the data folder.
With no server configured they share the embedded backends there (docs/embedded.md). A lock
file keeps a second ``geopin up`` off the same data folder: two sets of workers would each
be sure they own its queue. ``flock`` is released by the kernel when its holder dies, so a
crash leaves no stale lock behind.

Once up, a child that dies is restarted (:mod:`geopin.supervisor`); one that dies while the
service starts stops it, since that is a configuration to fix rather than a crash to ride
out. Ctrl-C or SIGTERM stops every child, a second one hurries them with SIGKILL.
"""

from __future__ import annotations

import fcntl
import os
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import click
import requests

from geopin.cli.common import ensure_model, load_settings
from geopin.logs import configure_logging
from geopin.rate_limits import rate_limits_on
from geopin.settings import Settings
from geopin.supervisor import POLL_S, RestartCounts, Supervised, stop_all
from geopin.wiring import describe

LOCK_NAME = "geopin-up.lock"
START_TIMEOUT_S = 60


@contextmanager
def data_folder_lock(folder: Path) -> Iterator[None]:
    """Hold the folder's lock for the block; a second holder gets a one-line error."""
    path = folder / LOCK_NAME
    handle: IO[str] = path.open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "unknown"
        handle.close()
        raise click.ClickException(
            f"another `geopin up` (pid {holder}) is using {folder}; stop it first, "
            "or give this one another GEOPIN_DATA_DIR"
        ) from None
    try:
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        yield
    finally:
        handle.close()  # releases the lock


def _services(
    settings: Settings, host: str, port: int, workers: int, data: Path
) -> dict[str, list[str]]:
    python = sys.executable
    services = {
        "embedder": [python, "-m", "geopin.worker", "embed"],
        "searcher": [python, "-m", "geopin.worker", "search"],
        "gateway": [
            *(python, "-m", "gunicorn", "--bind", f"{host}:{port}"),
            # gunicorn's default control socket is one per user: each gateway gets its own.
            *("--control-socket", str(data / "gateway.ctl")),
            *("--workers", str(workers), "geopin_gateway.wsgi:app"),
        ],
    }
    if settings.webhooks.secret is not None or settings.auth.enabled:
        services["notifier"] = [python, "-m", "geopin.worker", "notify"]
    return services


def _stop_on_signal(signum: int, frame: object) -> None:
    """Ctrl-C or SIGTERM: an orderly stop. Until stop_all takes over the signals (a second
    one hurries it), more of them are ignored, so none can cut the stop short."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    raise KeyboardInterrupt


@click.command("up")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--gateway-workers", default=2, show_default=True, type=click.IntRange(1, 64))
def up(host: str, port: int, gateway_workers: int) -> None:
    """Run GeoPin on this machine until Ctrl-C: gateway, workers, and (with no Redis or
    Elasticsearch configured) the embedded queue, job store and index in GEOPIN_DATA_DIR."""

    settings = load_settings()
    # The gateway decides its rate limits from the address it is bound to (docs/security.md).
    settings.limits.bind_host = host
    configure_logging(settings.log_level, settings.log_format)
    ensure_model(settings)
    data = settings.data_folder()
    logs = data / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    restarts = settings.metrics.restarts_dir or data / "restarts"
    # Children resolve the same data folder, know where the gateway listens, and the gateway
    # reads the restart counts.
    env = {
        **os.environ,
        "GEOPIN_DATA_DIR": str(data),
        "GEOPIN_LIMITS__BIND_HOST": host,
        "GEOPIN_METRICS__RESTARTS_DIR": str(restarts),
    }
    url = f"http://{host}:{port}"
    with data_folder_lock(data):
        for role, backend in describe(settings).items():
            click.echo(f"{role}: {backend}")
        click.echo(f"data folder: {data}")
        click.echo(f"rate limits: {'on' if rate_limits_on(settings) else 'off'}")
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, _stop_on_signal)
        children: list[Supervised] = []
        counts = RestartCounts(restarts)
        counts.clear()
        try:
            for name, argv in _services(settings, host, port, gateway_workers, data).items():
                children.append(Supervised(name, argv, env, logs / f"{name}.log", counts))
            _wait_until_answering(url, children)
            click.echo(
                f"\nGeoPin is up at {url}\n"
                f"  Send a photo:    curl -F image=@photo.jpg {url}/v1/jobs\n"
                f"  Or:              geopin locate photo.jpg --url {url}\n"
                f"  Add references:  geopin index add manifest.csv   (CSV: path,lat,lon[,id])\n"
                f"  Readiness:       curl {url}/readyz\n"
                f"  Logs:            {logs}/\n"
                "  Stop:            Ctrl-C"
            )
            _watch(children)
        except KeyboardInterrupt:
            click.echo("stopping... (again to stop at once)")
        finally:
            stop_all(children)


def _wait_until_answering(url: str, children: list[Supervised]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        _check_alive(children)
        try:
            if requests.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise click.ClickException(f"the gateway did not answer at {url}; see {children[-1].log_path}")


def _watch(children: list[Supervised]) -> None:
    """Until a signal: restart the children that exit (with backoff, logged)."""
    while True:
        for child in children:
            child.tend()
        time.sleep(POLL_S)


def _check_alive(children: list[Supervised]) -> None:
    for child in children:
        code = child.process.poll()
        if code is not None:
            raise click.ClickException(f"{child.name} exited ({code}); see {child.log_path}")
