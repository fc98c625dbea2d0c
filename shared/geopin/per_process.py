"""Things a process builds once, on first use: never at import, never inherited across a fork.

A worker's job store, index, model session and Redis connections belong to the process that
uses them. Built at import they would slow every import (``celery inspect`` included) and
do I/O nobody asked for; built before a fork they would be shared by parent and children,
which neither a socket nor an ONNX Runtime session survives. A forked child therefore forgets
what its parent built and builds its own when it first needs it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

from geopin.settings import Settings

T = TypeVar("T")


class PerProcess(Generic[T]):
    """``build()``'s result, built by the first call in each process and kept for the next.

    Thread-safe: a worker's pool threads asking at once get the one value built.
    """

    def __init__(self, build: Callable[[], T]) -> None:
        self._build = build
        self.forget()
        os.register_at_fork(after_in_child=self.forget)

    def __call__(self) -> T:
        if not self._built:
            with self._lock:
                if not self._built:
                    self._built.append(self._build())
        return self._built[0]

    def forget(self) -> None:
        """Build afresh on the next call (a forked child; tests that change the environment)."""
        self._lock = threading.Lock()
        self._built: list[T] = []


# This process's settings, from its environment: what its Celery app and its workers use.
process_settings = PerProcess(Settings)
