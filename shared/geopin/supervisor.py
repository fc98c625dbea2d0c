"""Keep GeoPin's processes running on one machine, as compose (``restart:``) and Kubernetes do.

``geopin up`` supervises its children in-process; ``scripts/up`` runs each service under
``python -m geopin.supervisor NAME -- COMMAND...``. A process that exits on its own is
started again after a backoff (1 s, doubling to 30 s; back to 1 s once it ran a minute), and
each restart is logged and counted. The counts are files in a folder
(``GEOPIN_METRICS__RESTARTS_DIR``), one per service, which the gateway reports on
``/metrics`` as ``geopin_supervisor_restarts_total``: a file survives a broker outage, the
usual reason a worker dies, and needs no server to be read.

A child runs in a session of its own, so a signal to its process group reaches a worker's
pool too, and is asked to get SIGTERM should its supervisor die (Linux), so no unsupervised
worker is left behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from geopin.logs import configure_logging
from geopin.per_process import process_settings

log = logging.getLogger(__name__)

BACKOFF_FIRST_S = 1.0
BACKOFF_MAX_S = 30.0
STABLE_S = 60.0  # a process that ran this long was healthy: its next restart waits 1 s again
STOP_GRACE_S = 20.0  # a worker finishes its task on SIGTERM, up to this long
POLL_S = 0.2


class Backoff:
    """Delays before restarting one process: doubling while it keeps dying young."""

    def __init__(self) -> None:
        self._next = BACKOFF_FIRST_S

    def after_run_of(self, ran_s: float) -> float:
        if ran_s >= STABLE_S:
            self._next = BACKOFF_FIRST_S
        delay, self._next = self._next, min(self._next * 2, BACKOFF_MAX_S)
        return delay


class RestartCounts:
    """Restarts per service since its supervisor started: one small file each in a folder."""

    def __init__(self, folder: Path) -> None:
        self._folder = folder

    def record(self, service: str, count: int) -> None:
        self._folder.mkdir(parents=True, exist_ok=True)
        staged = self._folder / f".{service}.tmp"
        staged.write_text(f"{count}\n")
        staged.replace(self._folder / service)  # readers see the old count or the new one

    def clear(self) -> None:
        """Forget the counts of an earlier run (whose services may differ from this one's)."""
        for path in self._folder.glob("*"):
            path.unlink(missing_ok=True)

    def read(self) -> dict[str, int]:
        counts = {}
        for path in sorted(self._folder.glob("[!.]*")):
            try:
                counts[path.name] = int(path.read_text())
            except (OSError, ValueError):
                continue  # removed or being replaced while we looked: the next scrape sees it
        return counts


@functools.cache
def _die_with_parent() -> Callable[[], object] | None:
    """What a child runs before exec to get SIGTERM when its supervisor dies (Linux's prctl
    PR_SET_PDEATHSIG), looked up here in the parent: the child, forked from a process that
    may have threads, only calls it. None elsewhere than Linux, where a supervisor killed
    outright leaves its child running."""
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (AttributeError, OSError):
        return None
    return functools.partial(prctl, 1, signal.SIGTERM)


class Supervised:
    """One service process, started again by :meth:`tend` whenever it exits on its own."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        env: Mapping[str, str],
        log_path: Path | None,
        counts: RestartCounts | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.log_path = log_path
        self._argv = list(argv)
        self._env = dict(env)
        self._counts = counts
        self._clock = clock
        self._backoff = Backoff()
        self._restart_at: float | None = None
        self.restarts = 0
        if counts is not None:
            counts.record(name, 0)
        self.process = self._spawn()

    def _spawn(self) -> subprocess.Popen[bytes]:
        self._started = self._clock()
        log_file = self.log_path.open("ab") if self.log_path else None
        try:
            return subprocess.Popen(  # noqa: S603 -- our own command line, no shell
                self._argv,
                env=self._env,
                stdout=log_file,
                stderr=subprocess.STDOUT if log_file else None,
                start_new_session=True,
                preexec_fn=_die_with_parent(),
            )
        finally:
            if log_file:
                log_file.close()

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def tend(self) -> None:
        """Restart the process if it exited and its backoff is over; call it often."""
        code = self.process.poll()
        if code is None:
            return
        now = self._clock()
        if self._restart_at is None:
            delay = self._backoff.after_run_of(now - self._started)
            self._restart_at = now + delay
            log.warning("%s exited (code %s); restarting it in %.0f s", self.name, code, delay)
        elif now >= self._restart_at:
            self._restart_at = None
            self.process = self._spawn()
            self.restarts += 1
            if self._counts is not None:
                self._counts.record(self.name, self.restarts)
            log.warning(
                "%s restarted (pid %d, restart %d)", self.name, self.process.pid, self.restarts
            )

    def send(self, sig: signal.Signals) -> None:
        if self.running:
            with contextlib.suppress(ProcessLookupError):  # it exited since we looked
                os.killpg(self.process.pid, sig)


def stop_all(children: Sequence[Supervised], grace_s: float = STOP_GRACE_S) -> None:
    """SIGTERM every child at once, wait for them all, SIGKILL what is left after ``grace_s``
    or at once on a second Ctrl-C or SIGTERM. Returns only when every child has exited, so
    an impatient operator never leaves a worker behind."""
    hurried = False

    def hurry(signum: int, frame: object) -> None:
        nonlocal hurried
        hurried = True

    previous = {sig: signal.signal(sig, hurry) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        for child in children:
            child.send(signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        while any(child.running for child in children):
            if hurried or time.monotonic() >= deadline:
                for child in children:
                    child.send(signal.SIGKILL)
            time.sleep(0.05)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def main(argv: list[str] | None = None) -> None:
    """``python -m geopin.supervisor NAME -- COMMAND...``: run COMMAND until SIGTERM/SIGINT,
    restarting it when it exits; its output goes where this process's goes."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) < 3 or args[1] != "--":
        sys.exit("usage: python -m geopin.supervisor NAME -- COMMAND [ARGS...]")
    settings = process_settings()
    configure_logging(settings.log_level, settings.log_format)
    folder = settings.metrics.restarts_dir
    counts = RestartCounts(folder) if folder is not None else None
    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    child = Supervised(args[0], args[2:], os.environ, None, counts)
    while not stopping:
        child.tend()
        time.sleep(POLL_S)
    stop_all([child])


if __name__ == "__main__":
    main()
