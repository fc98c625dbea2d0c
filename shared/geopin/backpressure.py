"""Backpressure: refuse new jobs while the embedding queue is already long.

Accepting every photo during a burst only moves the wait into the queue, where jobs can
outlive their uploads (``GEOPIN_JOBS__UPLOAD_TTL_S``) and fail anyway. Answering 503 with
Retry-After instead tells clients to come back, and keeps the queue within what the workers
can clear. The check reads the queue's length in the broker (with Redis, its list, as KEDA
does to scale the workers); :mod:`geopin.wiring` says how to read it.
"""

from __future__ import annotations

from collections.abc import Callable


class Backpressure:
    def __init__(self, queued: Callable[[], int], max_queued: int) -> None:
        self._queued, self._max_queued = queued, max_queued

    def queued(self) -> int:
        return self._queued()

    def full(self) -> bool:
        return self.queued() > self._max_queued
