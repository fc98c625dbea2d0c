"""What a worker builds for itself: once per process, on first use, and never across a fork."""

from __future__ import annotations

import os
import threading
import time

from geopin.per_process import PerProcess


class Counter:
    def __init__(self) -> None:
        self.built = 0

    def build(self) -> int:
        self.built += 1
        time.sleep(0.01)  # long enough for other threads to ask meanwhile
        return os.getpid()


def test_nothing_is_built_before_the_first_use() -> None:
    counter = Counter()
    built = PerProcess(counter.build)
    assert counter.built == 0
    assert built() == os.getpid()
    assert counter.built == 1


def test_threads_asking_at_once_share_one_build() -> None:
    counter = Counter()
    built = PerProcess(counter.build)
    threads = [threading.Thread(target=built) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert counter.built == 1


def test_a_forked_child_builds_its_own() -> None:
    built = PerProcess(Counter().build)
    assert built() == os.getpid()
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # the child reports what it got, then leaves without pytest's cleanup
        os.write(write, str(built()).encode())
        os._exit(0)
    os.close(write)
    os.waitpid(child, 0)
    with os.fdopen(read) as answer:
        assert int(answer.read()) == child
    assert built() == os.getpid()  # the parent keeps its own
