"""``pytest -m "not integration"`` leaves out exactly the tests that need real servers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SERVER_FREE = "tests/unit/test_geo.py"
NEEDS_SERVERS = "tests/integration/test_job_store_contract.py"
COLLECT = [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"]


def test_not_integration_leaves_out_the_integration_folder_and_nothing_else() -> None:
    listing = subprocess.run(
        [*COLLECT, "-m", "not integration", SERVER_FREE, NEEDS_SERVERS],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert {line.split("::")[0] for line in listing.splitlines() if "::" in line} == {SERVER_FREE}
