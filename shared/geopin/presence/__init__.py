"""Which models the embedding workers have loaded, so the gateway can say it is ready.

Each embedding process announces its model with an expiry time it keeps pushing back; readers
see only announcements that have not expired. No worker means no embedding, so ``/readyz``
reports the model as unusable until one has loaded it. Announcements live in Redis
(:mod:`.redis`) or SQLite (:mod:`.sqlite`); :mod:`geopin.wiring` picks one.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
from typing import Any, Protocol

from geopin.jobs import StoreUnavailable
from geopin.model.info import ModelInfo

ANNOUNCE_TTL_S = 90
REFRESH_EVERY_S = 30

log = logging.getLogger(__name__)


class ModelPresence(Protocol):
    def announce(self, info: ModelInfo) -> None:
        """Say (again) that this process has ``info`` loaded, for ANNOUNCE_TTL_S seconds."""

    def loaded_models(self) -> list[dict[str, Any]]:
        """One entry per live embedding process; entries of dead processes are dropped."""


def process_name() -> str:
    """This process among all embedders of a deployment."""
    return f"{socket.gethostname()}:{os.getpid()}"


def keep_announcing(presence: ModelPresence, info: ModelInfo) -> threading.Event:
    """Announce now, then refresh in the background; set the returned event to stop."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(REFRESH_EVERY_S):
            # Store down: the entry expires and readiness says so; the next refresh restores it.
            with contextlib.suppress(StoreUnavailable):
                presence.announce(info)

    presence.announce(info)
    threading.Thread(target=loop, name="model-presence", daemon=True).start()
    return stop
