"""Which workers are alive and which tasks each holds, so a dead worker's tasks run again soon.

The broker redelivers a task whose worker vanished only once it is older than the visibility
timeout, which must stay above the hard time limit (minutes), so a killed worker's jobs would
sit ``running`` that long. Instead each worker keeps a liveness record that expires unless it
renews it every ``heartbeat_s``, and notes the delivery tag of each task it takes and lets
go of. Every worker also looks, at each heartbeat, for workers whose record expired; the one
that buries such a worker (an atomic claim, so two never do) puts the tasks it held back at
the head of their queues. The job store's compare-and-set transitions make a late duplicate
harmless: a job is still done once (docs/architecture.md, "Recovery").

Records live in Redis (:mod:`.redis`) or SQLite (:mod:`.sqlite`); :mod:`geopin.wiring` picks
one. So do the fault counts (redeliveries, requeued orphans) the gateway shows on
``/metrics``: they must outlive the worker that saw the fault.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from typing import Protocol

log = logging.getLogger(__name__)

REDELIVERIES = "redeliveries"  # tasks a worker received flagged as delivered before
ORPHANS_REQUEUED = "orphans-requeued"  # tasks put back on their queue after their worker died
FAULTS = (REDELIVERIES, ORPHANS_REQUEUED)


class Liveness(Protocol):
    def beat(self, worker: str) -> None:
        """Say that ``worker`` is alive, for the next ``presumed_dead_after_s`` seconds."""

    def hold(self, worker: str, tag: str) -> None:
        """``worker`` took the message with delivery tag ``tag`` from the broker."""

    def let_go(self, worker: str, tag: str) -> None:
        """``worker`` is done with ``tag`` (acknowledged, retried or rejected next)."""

    def dead(self) -> list[str]:
        """Workers whose record expired and that nobody has buried yet."""

    def bury(self, worker: str) -> list[str] | None:
        """Claim a dead worker: the tags it held, to the one caller that buried it; None for
        any other caller, or when the worker turned out to be alive after all."""

    def leave(self, worker: str) -> None:
        """Forget a worker that shut down cleanly (its broker restored what it had not run)."""

    def count(self, fault: str, n: int = 1) -> None:
        """Add ``n`` to one of :data:`FAULTS`."""

    def counts(self) -> dict[str, int]:
        """Every fault counted so far by any worker (0 for those never seen)."""


def worker_name() -> str:
    """This worker process among all of a deployment, across restarts.

    Host and PID alone repeat (a restarted container is PID 1 again on the same host name),
    and a new worker renewing a dead one's record would hide its orphans: hence the suffix.
    """
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Watch(threading.Thread):
    """Renews this worker's record and requeues dead workers' tasks, every ``interval_s``.

    ``requeue`` puts messages back on their queues by delivery tag (:func:`geopin.queue.
    requeue`). A failure is logged and tried again at the next heartbeat; tasks of a worker
    buried just before its requeue failed wait for the broker's visibility timeout instead.

    A worker buries others only once it has renewed its own record for ``grace_s`` (the time
    after which a record expires): after a Redis outage every record has expired, and the
    first worker back must give the others that long to renew theirs, or it would requeue
    the tasks of every live worker. At start the same wait costs nothing: the workers that
    were already running sweep meanwhile.
    """

    def __init__(
        self,
        liveness: Liveness,
        worker: str,
        requeue: Callable[[list[str]], None],
        interval_s: float,
        grace_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(name="worker-liveness", daemon=True)
        self._liveness, self._worker, self._requeue = liveness, worker, requeue
        self._interval_s, self._grace_s, self._clock = interval_s, grace_s, clock
        self._in_touch_since: float | None = None
        self._stopped = threading.Event()

    def run(self) -> None:
        while not self._stopped.wait(self._interval_s):
            self.once()

    def once(self) -> None:
        try:
            self._liveness.beat(self._worker)
        except Exception as exc:  # the loop outlives any outage; the next heartbeat tries again
            log.warning("could not renew this worker's liveness record: %s", exc)
            self._in_touch_since = None
            return
        now = self._clock()
        if self._in_touch_since is None:
            self._in_touch_since = now
        if now - self._in_touch_since < self._grace_s:
            return  # others may not have renewed their records yet
        try:
            for dead in self._liveness.dead():
                self._requeue_orphans(dead)
        except Exception:
            log.exception("could not requeue the tasks of dead workers; trying again")

    def _requeue_orphans(self, dead: str) -> None:
        tags = self._liveness.bury(dead)
        if not tags:
            return
        self._requeue(tags)
        self._liveness.count(ORPHANS_REQUEUED, len(tags))
        log.warning(
            "worker %s died holding %d task(s); put them back on their queues", dead, len(tags)
        )

    def stop(self) -> None:
        self._stopped.set()
