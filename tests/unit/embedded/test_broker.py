"""The SQLite broker transport keeps a task until it is acknowledged, as Redis does."""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from geopin.queue import sqlite as broker
from geopin.queue.doorbell import fifo_path, ring
from kombu import Connection, Queue

QUEUE = Queue("embed", routing_key="embed")


def _connection(database: Path, visibility_timeout: float = 3600) -> Connection:
    broker.register()
    options = {"database": str(database), "visibility_timeout": visibility_timeout}
    return Connection(f"{broker.SCHEME}://", transport_options=options)


def _send(database: Path, *bodies: str) -> None:
    with _connection(database) as conn:
        queue = conn.SimpleQueue(QUEUE)
        for body in bodies:
            queue.put(body)


def test_an_acknowledged_message_is_gone(tmp_path: Path) -> None:
    _send(tmp_path / "q.db", "job-1")
    with _connection(tmp_path / "q.db") as conn:
        message = conn.SimpleQueue(QUEUE).get(timeout=1)
        assert message.payload == "job-1"
        message.ack()
    assert broker.queue_length(tmp_path / "q.db", "embed") == 0
    with _connection(tmp_path / "q.db") as conn:
        assert conn.default_channel.queue_declare("embed", passive=True).message_count == 0


def test_an_unacknowledged_message_comes_back_when_its_consumer_closes(tmp_path: Path) -> None:
    _send(tmp_path / "q.db", "job-1")
    with _connection(tmp_path / "q.db") as conn:
        assert conn.SimpleQueue(QUEUE).get(timeout=1).payload == "job-1"
        assert broker.queue_length(tmp_path / "q.db", "embed") == 0  # taken, not waiting
    assert broker.queue_length(tmp_path / "q.db", "embed") == 1


def test_a_message_taken_longer_than_the_visibility_timeout_is_offered_again(
    tmp_path: Path,
) -> None:
    _send(tmp_path / "q.db", "job-1")
    crashed = _connection(tmp_path / "q.db", visibility_timeout=0.2)
    crashed.default_channel.qos.restore_at_shutdown = False  # as if its process were killed
    assert crashed.SimpleQueue(QUEUE).get(timeout=1).payload == "job-1"
    with _connection(tmp_path / "q.db", visibility_timeout=0.2) as conn:
        time.sleep(0.3)
        again = conn.SimpleQueue(QUEUE).get(timeout=1)
        assert again.payload == "job-1"
        again.ack()
    crashed.release()
    assert broker.queue_length(tmp_path / "q.db", "embed") == 0


def test_a_locked_queue_delivers_nothing_until_released_and_keeps_its_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("geopin.sqlite.BUSY_TIMEOUT_S", 0.1)  # this test's waits, not 2 s
    _send(tmp_path / "q.db", "job-1")
    lock = sqlite3.connect(tmp_path / "q.db", isolation_level=None)
    with _connection(tmp_path / "q.db") as conn:
        queue = conn.SimpleQueue(QUEUE)
        lock.execute("BEGIN EXCLUSIVE")  # another process's stuck write
        with pytest.raises(queue.Empty):
            queue.get(timeout=0.5)  # not sqlite3.OperationalError, which would stop a worker
        lock.execute("ROLLBACK")
        message = queue.get(timeout=1)
        assert message.payload == "job-1"
        message.ack()
    lock.close()


def test_a_message_a_dead_consumer_held_is_restored_by_tag_flagged_as_redelivered(
    tmp_path: Path,
) -> None:
    _send(tmp_path / "q.db", "job-1")
    _send(tmp_path / "q.db", "job-2")
    crashed = _connection(tmp_path / "q.db")
    crashed.default_channel.qos.restore_at_shutdown = False  # as if its process were killed
    held = crashed.SimpleQueue(QUEUE).get(timeout=1)
    assert held.payload == "job-1"
    assert not held.delivery_info.get("redelivered")
    with _connection(tmp_path / "q.db") as sweeper:  # another process, as geopin.liveness's
        sweeper.default_channel.qos.restore_by_tag(held.delivery_tag)
    with _connection(tmp_path / "q.db") as conn:
        again = conn.SimpleQueue(QUEUE).get(timeout=1)
        assert again.payload == "job-1"  # back in its place, ahead of job-2
        assert again.delivery_info["redelivered"] is True
        again.ack()
    crashed.release()
    assert broker.queue_length(tmp_path / "q.db", "embed") == 1


def test_a_waiting_consumer_is_woken_by_a_new_message_not_by_its_next_poll(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Polls far apart: a delivery before the next one can only come from the doorbell.
    monkeypatch.setattr(broker.Transport, "polling_interval", 60.0)
    received: list[tuple[str, float]] = []

    def consume() -> None:
        with _connection(tmp_path / "q.db") as conn:
            message = conn.SimpleQueue(QUEUE).get(timeout=30)
            received.append((message.payload, time.monotonic()))
            message.ack()

    consumer = threading.Thread(target=consume)
    consumer.start()
    time.sleep(1.0)  # the consumer looked at the empty table and waits on the doorbell
    sent = time.monotonic()
    _send(tmp_path / "q.db", "job-1")
    consumer.join(timeout=40)
    ((payload, at),) = received
    assert payload == "job-1"
    assert at - sent < 20  # generous for a loaded machine; a poll would have taken 60 s


def test_a_consumer_without_room_for_another_task_hands_back_control_at_once(
    tmp_path: Path,
) -> None:
    # Celery acknowledges finished tasks between two calls of drain_events: a consumer at its
    # prefetch limit must return soon rather than wait out the timeout with nothing to take.
    _send(tmp_path / "q.db", "job-1")
    _send(tmp_path / "q.db", "job-2")
    held: list[object] = []
    with (
        _connection(tmp_path / "q.db") as conn,
        conn.Consumer(QUEUE, callbacks=[lambda _, message: held.append(message)]) as consumer,
    ):
        consumer.qos(prefetch_count=1)
        conn.drain_events(timeout=5)
        assert len(held) == 1
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            conn.drain_events(timeout=30)
        assert time.monotonic() - started < 15  # kombu's own loop would wait all 30 s
        assert len(held) == 1  # and it took nothing beyond its limit


def test_a_doorbell_rung_with_no_consumer_is_harmless(tmp_path: Path) -> None:
    ring(fifo_path(tmp_path / "q.db", "embed"))  # no FIFO yet
    _send(tmp_path / "q.db", "job-1")  # rings too, with no one waiting
    assert broker.queue_length(tmp_path / "q.db", "embed") == 1


def test_a_message_rejected_for_requeue_is_offered_again_before_later_ones(
    tmp_path: Path,
) -> None:
    _send(tmp_path / "q.db", "job-1", "job-2")
    with _connection(tmp_path / "q.db") as conn:
        queue = conn.SimpleQueue(QUEUE)
        rejected = queue.get(timeout=1)
        assert rejected.payload == "job-1"
        rejected.reject(requeue=True)
        again = queue.get(timeout=1)
        assert again.payload == "job-1"
        again.ack()
    assert broker.queue_length(tmp_path / "q.db", "embed") == 1  # job-2, still waiting


def test_a_message_rejected_without_requeue_is_never_offered_again(tmp_path: Path) -> None:
    _send(tmp_path / "q.db", "job-1")
    with _connection(tmp_path / "q.db", visibility_timeout=0.2) as conn:
        queue = conn.SimpleQueue(QUEUE)
        queue.get(timeout=1).reject()
        time.sleep(0.3)  # past the visibility timeout, which brings back what is only taken
        with pytest.raises(queue.Empty):
            queue.get(timeout=0.5)
    assert broker.queue_length(tmp_path / "q.db", "embed") == 0


def _consume(database: Path, start_together: Any, results: Any) -> None:
    """One consumer process: takes messages until the queue stays empty, acknowledging each,
    then sends back what it took."""
    taken = []
    with _connection(database) as conn:
        queue = conn.SimpleQueue(QUEUE)
        start_together.wait()
        while True:
            try:
                message = queue.get(timeout=1)
            except queue.Empty:
                break
            taken.append(message.payload)
            message.ack()
            # A worker spends a while on each message: on a loaded machine, without this
            # pause one process can drain the queue before the other is even scheduled.
            time.sleep(0.005)
    results.put(taken)


def test_two_consumers_on_one_queue_get_each_message_exactly_once(tmp_path: Path) -> None:
    sent = [f"job-{n}" for n in range(300)]
    _send(tmp_path / "q.db", *sent)
    # Two processes polling as fast as they can, as two workers on one data folder would:
    # each with its own SQLite connection, racing for the same rows.
    spawn = multiprocessing.get_context("spawn")
    start_together, results = spawn.Barrier(2), spawn.Queue()
    consumers = [
        spawn.Process(target=_consume, args=(tmp_path / "q.db", start_together, results))
        for _ in range(2)
    ]
    for consumer in consumers:
        consumer.start()
    taken = [results.get(timeout=120) for _ in consumers]
    for consumer in consumers:
        consumer.join(timeout=10)
    assert sorted(taken[0] + taken[1]) == sorted(sent)  # none twice, none lost
    assert all(taken), "one consumer took every message: the two never competed"
    assert broker.queue_length(tmp_path / "q.db", "embed") == 0
