"""A kombu transport on SQLite: Celery's queues in the data folder, with Redis's guarantees.

kombu ships two server-less transports, and neither keeps a task whose worker died:
the filesystem transport deletes a message when a worker reads it (and reads files a
producer may still be writing), and the SQLAlchemy transport hides it for good and drops a
message silently when SQLite is busy. Here a read message stays in the table, marked taken;
the ack deletes it, a warm shutdown puts it back, and a message taken longer ago than the
visibility timeout (a worker killed mid-task) is offered again: at-least-once delivery, as
with Redis (docs/architecture.md).

Delivery is as prompt as Redis's: whoever makes a message available rings its queue's
doorbell (:mod:`geopin.queue.doorbell`), which an idle consumer waits on, so a task reaches
an idle worker within milliseconds of its commit rather than at the next poll.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from pathlib import Path
from queue import Empty
from typing import Any

from kombu.transport import TRANSPORT_ALIASES, virtual

from geopin.queue.doorbell import Doorbells, fifo_path, ring
from geopin.sqlite import Database

log = logging.getLogger(__name__)

SCHEME = "geopin-sqlite"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    queue TEXT NOT NULL,
    tag TEXT NOT NULL UNIQUE,
    payload TEXT NOT NULL,
    taken_at REAL
);
CREATE INDEX IF NOT EXISTS messages_waiting ON messages (queue, taken_at, id);
"""
# A message offered again is flagged as Redis's transport flags it, so a worker can count it.
_OFFER_AGAIN = (
    "taken_at = NULL, "
    "payload = json_set(payload, '$.properties.delivery_info.redelivered', json('true'))"
)


def register() -> None:
    """Let ``geopin-sqlite://`` name this transport in every process that makes a Celery app."""
    TRANSPORT_ALIASES[SCHEME] = f"{__name__}:Transport"


def queue_length(database: Path, queue: str) -> int:
    """Messages waiting in ``queue`` (not those a worker has taken), as Redis's LLEN counts."""
    row = (
        _database(database)
        .conn.execute(
            "SELECT count(*) FROM messages WHERE queue = ? AND taken_at IS NULL", (queue,)
        )
        .fetchone()
    )
    return int(row[0])


def ping(database: Path) -> None:
    """Take the queue's write lock and let it go: fails while another process holds it."""
    _database(database).ping()


_databases: dict[Path, Database] = {}


def _database(path: Path) -> Database:
    if path not in _databases:
        _databases[path] = Database(path, _SCHEMA)
    return _databases[path]


class QoS(virtual.QoS):  # type: ignore[misc]
    def ack(self, delivery_tag: str) -> None:
        self.channel.forget(delivery_tag)
        super().ack(delivery_tag)

    def reject(self, delivery_tag: str, requeue: bool = False) -> None:
        if requeue:
            self.channel.release(delivery_tag)  # back in its place, not at the end
        else:
            self.channel.forget(delivery_tag)
        self._quick_ack(delivery_tag)

    def restore_by_tag(self, tag: str, client: object = None, leftmost: bool = False) -> None:
        """Offer again a message another consumer took (Redis's QoS has the same method):
        back in its place, as with a reject, whichever process took it."""
        self.channel.release(tag)


class Channel(virtual.Channel):  # type: ignore[misc]
    QoS = QoS

    @property
    def _path(self) -> Path:
        return Path(self.connection.client.transport_options["database"])

    @property
    def _db(self) -> Database:
        return _database(self._path)

    def doorbells(self) -> list[Path]:
        """The doorbells of the queues this channel consumes."""
        return [fifo_path(self._path, queue) for queue in self._active_queues]

    @property
    def _visibility_timeout_s(self) -> float:
        return float(self.connection.client.transport_options.get("visibility_timeout", 3600))

    def _put(self, queue: str, message: dict[str, Any], **_: Any) -> None:
        # A restored message keeps its delivery tag: it replaces its taken row.
        tag = message["properties"]["delivery_tag"]
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO messages (queue, tag, payload) VALUES (?, ?, ?)",
                (queue, tag, json.dumps(message)),
            )
        ring(fifo_path(self._path, queue))  # after the commit: the row is there to take

    def _get(self, queue: str, timeout: float | None = None) -> dict[str, Any]:
        try:
            return self._take(queue)
        except sqlite3.OperationalError as exc:
            # Locked past the busy timeout: nothing to deliver this time, the next poll tries
            # again. Raised as it is, it would stop the worker ("Unrecoverable error").
            log.warning("could not poll queue %s: %s", queue, exc)
            raise Empty() from exc

    def _take(self, queue: str) -> dict[str, Any]:
        """The oldest waiting message, marked taken (and expired takings offered again)."""
        now = time.time()
        with self._db.transaction() as conn:
            conn.execute(
                f"UPDATE messages SET {_OFFER_AGAIN} WHERE queue = ? AND taken_at < ?",  # noqa: S608 -- a constant
                (queue, now - self._visibility_timeout_s),
            )
            row = conn.execute(
                "SELECT id, payload FROM messages WHERE queue = ? AND taken_at IS NULL "
                "ORDER BY id LIMIT 1",
                (queue,),
            ).fetchone()
            if row is None:
                raise Empty()
            conn.execute("UPDATE messages SET taken_at = ? WHERE id = ?", (now, row[0]))
        payload: dict[str, Any] = json.loads(row[1])
        return payload

    def _size(self, queue: str) -> int:
        return queue_length(self._db.path, queue)

    def _purge(self, queue: str) -> int:
        with self._db.transaction() as conn:
            cursor = conn.execute(
                "DELETE FROM messages WHERE queue = ? AND taken_at IS NULL", (queue,)
            )
        return cursor.rowcount

    def _delete(self, queue: str, *args: Any, **kwargs: Any) -> None:
        with self._db.transaction() as conn:
            conn.execute("DELETE FROM messages WHERE queue = ?", (queue,))

    def forget(self, delivery_tag: str) -> None:
        with self._db.transaction() as conn:
            conn.execute("DELETE FROM messages WHERE tag = ?", (delivery_tag,))

    def release(self, delivery_tag: str) -> None:
        with self._db.transaction() as conn:
            rows = conn.execute(
                f"UPDATE messages SET {_OFFER_AGAIN} WHERE tag = ? RETURNING queue",  # noqa: S608 -- a constant
                (delivery_tag,),
            ).fetchall()
        for (queue,) in rows:
            ring(fifo_path(self._path, queue))


class Transport(virtual.Transport):  # type: ignore[misc]
    Channel = Channel
    default_port = 0
    driver_type = "sqlite"
    driver_name = "geopin-sqlite"
    # The most an idle consumer waits between two looks at the table: doorbells wake it
    # sooner for every new message, so this only bounds what no doorbell announces.
    polling_interval = 1.0
    # How long a consumer with no room for another task waits before handing control back.
    room_check_s = 0.005
    # A file locked past the busy timeout is this transport's broker outage. Declared a
    # recoverable connection error, kombu retries a publish by the retry policy and Celery's
    # consumer reconnects, rather than failing the task in hand or stopping the worker. (A
    # transport that leaves the recoverable ones undeclared gets one reconnection only.)
    connection_errors = (*virtual.Transport.connection_errors, sqlite3.OperationalError)
    recoverable_connection_errors = connection_errors
    recoverable_channel_errors = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._doorbells = Doorbells()

    def drain_events(self, connection: Any, timeout: float | None = None) -> None:
        """Deliver one message, waiting up to ``timeout`` for one (else ``TimeoutError``).

        Celery drives a transport like this one from its blocking loop, which runs the
        acknowledgements of finished tasks (queued by their pool threads) only between two
        calls of this method. kombu's own version waits out the whole timeout (2 s) while
        the prefetch limit is reached, so a worker took its tasks in groups, one group every
        2 s. Here a worker without room returns within ``room_check_s``, and a worker with
        room waits on its queues' doorbells.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            try:
                self.cycle.get(self._deliver, timeout=timeout)
                return
            except Empty:
                pass
            left = self.polling_interval if deadline is None else deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError()
            consuming = [c for c in self.channels if c._consumers]
            if not any(c.qos.can_consume() for c in consuming):
                time.sleep(min(self.room_check_s, left))
                raise TimeoutError()  # back to Celery's loop, to acknowledge what finished
            doorbells = [path for channel in consuming for path in channel.doorbells()]
            self._doorbells.wait(doorbells, min(self.polling_interval, left))

    def close_connection(self, connection: Any) -> None:
        self._doorbells.close()
        super().close_connection(connection)

    def driver_version(self) -> str:
        return sqlite3.sqlite_version
