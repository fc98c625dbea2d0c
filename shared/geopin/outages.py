"""Outages told in the domain's words: each adapter translates its library's errors.

A backend that does not answer (Redis down, a SQLite file locked, Elasticsearch stopped)
reaches views and tasks as one domain error per role, whichever backend plays it:
:class:`geopin.jobs.StoreUnavailable`, :class:`geopin.queue.QueueUnavailable` or
:class:`geopin.index.IndexUnavailable`. The gateway answers each with 503 and Retry-After;
the tasks retry them. Each adapter module makes one :class:`OutageTranslation` and puts it
on every method that reaches its backend, rather than a try/except in each.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ContextDecorator
from types import TracebackType

LibraryErrors = type[BaseException] | tuple[type[BaseException], ...]


class OutageTranslation(ContextDecorator):
    """A decorator (or ``with`` block) under which ``errors`` are raised again as ``into``.

    The domain error's message names the backend and keeps the library's, for logs and
    ``/readyz``; the library's error stays chained to it. ``only`` narrows which of
    ``errors`` count as an outage (say, an HTTP 503 but not a 400). Keeps no state, so one
    instance serves every method of an adapter, in any thread.
    """

    def __init__(
        self,
        errors: LibraryErrors,
        into: Callable[[str], Exception],
        backend: str,
        only: Callable[[BaseException], bool] | None = None,
    ) -> None:
        self._errors, self._into, self._backend, self._only = errors, into, backend, only

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if isinstance(error, self._errors) and (self._only is None or self._only(error)):
            raise self._into(f"{self._backend}: {error}") from error
