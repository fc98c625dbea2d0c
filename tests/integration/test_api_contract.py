"""schemathesis against the live gateway, with every check and every phase: no 5xx, every
answer as /openapi.json says, valid data accepted, invalid data refused, and the document's
links followed from a submitted job to its routes and its matches' thumbnails.

Real workers and an indexed reference set stand behind the gateway, so jobs succeed while the
stateful phase polls them. schemathesis_hooks.py teaches schemathesis to draw photos and holds
it to reach those routes with real IDs; schemathesis.toml tunes two settings, saying why.
Bounded on purpose (a fixed seed, a time budget): it runs in CI on every change.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from geopin.settings import Settings
from geopin.wiring import key_store

from tests.support.stack import running_stack

HERE = Path(__file__).parent


def test_live_gateway_conforms_to_its_openapi_document(
    redis_db: str, base_env: dict[str, str], reference_manifest: Path, tmp_path: Path
) -> None:
    token, _ = key_store(Settings(redis={"url": redis_db})).create("schemathesis")
    env = {
        **base_env,
        "GEOPIN_REDIS__URL": redis_db,
        "GEOPIN_AUTH__ENABLED": "true",  # so that ignored_auth has keys to check
        "GEOPIN_LIMITS__SUBMIT": "100000/minute",
        "GEOPIN_LIMITS__READ": "100000/minute",
        "GEOPIN_LIMITS__MAX_QUEUED_JOBS": "100000",
        # Small model inputs: jobs end within a stateful scenario on a 2-core machine.
        "GEOPIN_IMAGES__SHORTER_SIDE": "64",
        "GEOPIN_IMAGES__MAX_SIDE": "64",
    }
    with running_stack(env, tmp_path) as url:
        result = subprocess.run(
            [
                *(sys.executable, "-m", "schemathesis.cli"),
                *("--config-file", str(HERE / "schemathesis.toml")),
                *("run", f"{url}/openapi.json", "--checks", "all"),
                *("--phases", "examples,coverage,fuzzing,stateful"),
                *("--seed", "1", "--max-examples", "20", "--max-time", "60"),
                *("--workers", "2", "--request-timeout", "10", "--generation-database", "none"),
                *("--header", f"Authorization: Bearer {token}", "--no-color"),
                *("--report-dir", str(tmp_path / "report")),
            ],
            env={
                **os.environ,
                "SCHEMATHESIS_HOOKS": str(HERE / "schemathesis_hooks.py"),
            },
            cwd=tmp_path,  # schemathesis keeps a .schemathesis/ cache in its working folder
            capture_output=True,
            text=True,
            timeout=150,
            check=False,
        )
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-2000:]
