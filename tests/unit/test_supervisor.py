"""The supervisor of `geopin up` and `scripts/up`: a process that dies is started again,
after a backoff, and counted where the gateway reads it; stopping leaves no process behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from geopin.supervisor import (
    BACKOFF_FIRST_S,
    BACKOFF_MAX_S,
    STABLE_S,
    Backoff,
    RestartCounts,
    Supervised,
    stop_all,
)

REPO = Path(__file__).resolve().parents[2]
EXITS = [sys.executable, "-c", "raise SystemExit(3)"]
SLEEPS = [sys.executable, "-c", "import time; time.sleep(60)"]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_backoff_doubles_while_a_process_dies_young_and_resets_once_it_ran_a_while() -> None:
    backoff = Backoff()
    delays = [backoff.after_run_of(0.5) for _ in range(7)]
    assert delays == [1, 2, 4, 8, 16, 30, 30]
    assert (delays[0], delays[-1]) == (BACKOFF_FIRST_S, BACKOFF_MAX_S)
    assert backoff.after_run_of(STABLE_S) == BACKOFF_FIRST_S


def _exited(child: Supervised) -> None:
    child.process.wait(timeout=30)


def test_a_process_that_exits_is_restarted_after_its_backoff_and_counted(tmp_path: Path) -> None:
    clock, counts = Clock(), RestartCounts(tmp_path / "restarts")
    child = Supervised("worker", EXITS, os.environ, tmp_path / "worker.log", counts, clock)
    assert counts.read() == {"worker": 0}
    first = child.process.pid
    _exited(child)
    child.tend()  # notices the exit: schedules the restart in 1 s
    clock.now += BACKOFF_FIRST_S - 0.1
    child.tend()
    assert child.process.pid == first
    clock.now += 0.1
    child.tend()
    assert child.process.pid != first
    assert (child.restarts, counts.read()) == (1, {"worker": 1})
    _exited(child)
    child.tend()
    clock.now += 2 * BACKOFF_FIRST_S  # dying young again: the next wait doubled
    child.tend()
    assert counts.read() == {"worker": 2}
    _exited(child)


def test_restart_counts_are_one_file_per_service_and_a_new_run_starts_from_none(
    tmp_path: Path,
) -> None:
    counts = RestartCounts(tmp_path / "restarts")
    counts.record("embedder", 3)
    counts.record("gateway", 0)
    assert counts.read() == {"embedder": 3, "gateway": 0}
    counts.clear()
    assert counts.read() == {}


def test_stopping_waits_for_every_child_then_kills_what_outlives_the_grace(tmp_path: Path) -> None:
    ignores_term = [
        sys.executable,
        "-c",
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)",
    ]
    polite = Supervised("polite", SLEEPS, os.environ, None)
    stubborn = Supervised("stubborn", ignores_term, os.environ, None)
    time.sleep(0.5)  # let the stubborn one ignore SIGTERM before it is sent
    started = time.monotonic()
    stop_all([polite, stubborn], grace_s=2)
    assert not polite.running
    assert not stubborn.running
    assert polite.process.returncode == -signal.SIGTERM
    assert stubborn.process.returncode == -signal.SIGKILL
    assert 2 <= time.monotonic() - started < 15


def test_the_supervisor_command_restarts_its_child_and_stops_it_with_itself(
    tmp_path: Path,
) -> None:
    pids = tmp_path / "pids"
    record_then_exit = [
        sys.executable,
        "-c",
        f"import os, time; open({str(pids)!r}, 'a').write(f'{{os.getpid()}}\\n'); time.sleep(1)",
    ]
    supervisor = subprocess.Popen(
        [sys.executable, "-m", "geopin.supervisor", "short-lived", "--", *record_then_exit],
        cwd=REPO,
        env={**os.environ, "GEOPIN_METRICS__RESTARTS_DIR": str(tmp_path / "restarts")},
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(_lines(pids)) < 2:
            time.sleep(0.1)
        assert len(_lines(pids)) >= 2, "not restarted"
        assert RestartCounts(tmp_path / "restarts").read()["short-lived"] >= 1
    finally:
        supervisor.send_signal(signal.SIGTERM)
        _, stderr = supervisor.communicate(timeout=60)
    assert supervisor.returncode == 0, stderr
    assert "short-lived exited (code 0); restarting it in 1 s" in stderr
    for pid in _lines(pids):
        with pytest.raises(ProcessLookupError):
            os.kill(int(pid), 0)


def _lines(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []
