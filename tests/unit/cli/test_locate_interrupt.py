"""Ctrl-C on `geopin locate`: the first stops submitting and waits for the jobs in flight,
the second leaves at once; either way the output keeps every answer written, valid.

The command runs as a real process (signals reach it as they would from a terminal) against
the stand-in gateway served from this test.
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.fake_gateway import FakeGateway
from tests.support.stack import REPO, wait_until

PHOTOS = 40
CONCURRENCY = 2


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    for n in range(PHOTOS):
        (folder / f"p{n:02d}.jpg").write_bytes(b"place %d" % n)
    return folder


def _start(url: str, photos: Path, out: Path) -> subprocess.Popen[str]:
    argv = [sys.executable, "-m", "geopin.cli", "locate", str(photos), "-o", str(out)]
    return subprocess.Popen(
        [*argv, "--url", url, "-j", str(CONCURRENCY)],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _rows(out: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(out.read_text().splitlines())) if out.exists() else []


@pytest.fixture
def gateway() -> FakeGateway:
    return FakeGateway(polls_to_end=4)  # a few jobs stay in flight at any time


def _interrupted(url: str, photos: Path, out: Path) -> subprocess.Popen[str]:
    """`geopin locate` after its first answers and one Ctrl-C."""
    locate = _start(url, photos, out)
    wait_until(lambda: len(_rows(out)) >= 3, 60, "the first answers")
    locate.send_signal(signal.SIGINT)
    return locate


def test_the_first_ctrl_c_lets_the_jobs_in_flight_end_and_writes_them(
    gateway: FakeGateway, url: str, photos: Path, tmp_path: Path
) -> None:
    out = tmp_path / "answers.csv"
    locate = _interrupted(url, photos, out)
    _, stderr = locate.communicate(timeout=60)
    assert locate.returncode == 130, stderr
    assert "stopping: waiting for the photos in flight" in stderr
    rows = _rows(out)
    assert len(rows) == gateway.submissions < PHOTOS  # every job submitted was waited for
    assert gateway.in_flight == 0
    assert {row["status"] for row in rows} == {"succeeded"}


def test_the_second_ctrl_c_leaves_at_once_and_keeps_what_was_written(
    gateway: FakeGateway, url: str, photos: Path, tmp_path: Path
) -> None:
    out = tmp_path / "answers.csv"
    locate = _start(url, photos, out)
    wait_until(lambda: len(_rows(out)) >= 3, 60, "the first answers")
    gateway.polls_to_end = 10**6  # from now on, jobs never end
    time.sleep(0.5)  # long enough for new jobs to be in flight
    locate.send_signal(signal.SIGINT)
    time.sleep(0.5)
    assert locate.poll() is None  # still waiting for its jobs in flight
    written = len(_rows(out))
    locate.send_signal(signal.SIGINT)
    _, stderr = locate.communicate(timeout=10)
    assert locate.returncode == 130, stderr
    assert len(_rows(out)) == written
    assert gateway.in_flight > 0


def test_a_rerun_after_ctrl_c_locates_each_remaining_photo_once(
    gateway: FakeGateway, url: str, photos: Path, tmp_path: Path
) -> None:
    out = tmp_path / "answers.csv"
    _interrupted(url, photos, out).communicate(timeout=60)
    first = len(_rows(out))

    rerun = _start(url, photos, out)
    _, stderr = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, stderr
    assert f"{first} photo(s) already answered" in stderr
    assert sorted(row["photo"] for row in _rows(out)) == sorted(str(p) for p in photos.iterdir())
    assert gateway.submissions == PHOTOS
