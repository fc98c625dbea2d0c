"""What a task retries on (a backend that is down now and may be back soon), and for how long.

Every adapter turns its client library's connection errors into one of these, so a task names
no Redis, SQLite or Elasticsearch exception. Any other error is final: the job fails, once,
rather than being retried into the same result.

A job's tasks wait an outage out for a bounded time (:class:`OutageWindow`), measured from the
first failure, by asking Celery to deliver them again later: between tries the task holds no
worker thread, so other jobs go on being served.
"""

from __future__ import annotations

from dataclasses import dataclass

from geopin.index import IndexUnavailable
from geopin.jobs import StoreUnavailable
from geopin.queue import QueueUnavailable

# What each backend is to a user, for the messages that say which one did not answer.
OUTAGES: dict[type[Exception], str] = {
    StoreUnavailable: "the job store",
    QueueUnavailable: "the job queue",
    IndexUnavailable: "the reference index",
}
TRANSIENT_ERRORS = (StoreUnavailable, IndexUnavailable, QueueUnavailable)

# Tries come 1, 2, 4 and 8 s apart, then every 10 s: soon after a blip, and within 10 s of a
# longer outage's end, at a cost of one request per waiting job every 10 s.
FIRST_DELAY_S = 1.0
LONGEST_DELAY_S = 10.0


def backend_of(error: Exception) -> str:
    """The words for the backend whose outage ``error`` reports."""
    return next(words for kind, words in OUTAGES.items() if isinstance(error, kind))


@dataclass(frozen=True)
class OutageWindow:
    """How long a job's task waits for a backend that does not answer before failing the job."""

    window_s: float

    def delay_s(self, since: float, now: float, retries: int) -> float | None:
        """Seconds until the next try, or None when the window is spent.

        ``since`` is when the first try failed and ``retries`` how many tries followed it
        (wall-clock seconds, since the tries may run on different hosts). The last try is
        placed at the window's end, so a job fails within one try of it.
        """
        left = since + self.window_s - now
        if left <= 0:
            return None
        backoff = FIRST_DELAY_S * 2.0 ** min(retries, 16)
        return min(backoff, LONGEST_DELAY_S, left)
