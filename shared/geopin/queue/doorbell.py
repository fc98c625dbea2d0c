"""Wake-ups between processes on one machine: a named pipe (FIFO) per queue.

The embedded transport keeps its messages in SQLite, which cannot tell a waiting consumer
that a row arrived. Polling faster costs CPU all day long; polling slower costs latency on
every job. Instead, whoever makes a message available rings the queue's doorbell (writes one
byte to its FIFO, without blocking) after the commit, and a consumer with nothing to do
waits on it with ``select`` (fifo(7), select(2)). A byte written after the commit that a
consumer missed by one poll is still in the pipe when it starts waiting, so no wake-up is
lost between its last look at the table and its wait. Several consumers may wait on one
FIFO: all of them wake and race for the row, which the table's transaction settles. The
doorbell only shortens waits: a consumer still looks at the table every polling interval,
for what no doorbell announces (a taken message whose visibility timeout passed) and in
case a ring fails.
"""

from __future__ import annotations

import contextlib
import os
import select
from pathlib import Path

_PIPE_BUFFER = 4096  # one read drains any backlog of rings; their count means nothing


def fifo_path(database: Path, queue: str) -> Path:
    return database.with_name(f"{database.name}.{queue}.doorbell")


def ring(path: Path) -> None:
    """Wake whoever waits on ``path``; nothing happens when no one does."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
    except OSError:
        return  # ENOENT: no consumer made it yet; ENXIO: none has it open now
    try:
        os.write(fd, b"\0")
    except BlockingIOError:
        pass  # the pipe is full of rings not yet read: its consumers will look anyway
    finally:
        os.close(fd)


class Doorbells:
    """The doorbells of the queues one consumer waits on, opened on first use."""

    def __init__(self) -> None:
        self._fds: dict[Path, int] = {}

    def wait(self, paths: list[Path], timeout_s: float) -> None:
        """Return when one of ``paths`` rang (or had rung since the last wait), or after
        ``timeout_s``."""
        fds = [self._open(path) for path in paths]
        readable, _, _ = select.select(fds, [], [], timeout_s)
        for fd in readable:
            with contextlib.suppress(BlockingIOError):
                os.read(fd, _PIPE_BUFFER)

    def _open(self, path: Path) -> int:
        if path not in self._fds:
            with contextlib.suppress(FileExistsError):
                os.mkfifo(path, 0o600)
            # Read and write: a FIFO opened only for reading reads as ended (select says
            # readable, forever) whenever no producer has it open.
            self._fds[path] = os.open(path, os.O_RDWR | os.O_NONBLOCK)
        return self._fds[path]

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()
