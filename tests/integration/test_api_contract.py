"""schemathesis against the live gateway: no 5xx, and every answer as /openapi.json says.

Short on purpose (a fixed seed, bounded examples and time): it runs in CI on every change.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from geopin.settings import Settings
from geopin.wiring import key_store

from tests.support.stack import start_gateway

CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
    ]
)


def test_live_gateway_conforms_to_its_openapi_document(
    redis_db: str, base_env: dict[str, str], tmp_path: Path
) -> None:
    token, _ = key_store(Settings(redis={"url": redis_db})).create("schemathesis")
    env = {
        **base_env,
        "GEOPIN_REDIS__URL": redis_db,
        "GEOPIN_AUTH__ENABLED": "true",
        "GEOPIN_LIMITS__SUBMIT": "10000/minute",
        "GEOPIN_LIMITS__READ": "10000/minute",
        "GEOPIN_LIMITS__MAX_QUEUED_JOBS": "100000",  # no workers here: the queue only grows
    }
    gateway, url = start_gateway(env, tmp_path)
    try:
        result = subprocess.run(
            [
                *(sys.executable, "-m", "schemathesis.cli", "run", f"{url}/openapi.json"),
                *("--checks", CHECKS, "--max-examples", "12", "--seed", "1"),
                *("--max-time", "30", "--workers", "2", "--request-timeout", "10"),
                # /readyz answers 503 by design here (no model, no index), as documented.
                *("--exclude-path", "/readyz"),
                *("--header", f"Authorization: Bearer {token}", "--no-color"),
                *("--report-dir", str(tmp_path / "report")),
            ],
            cwd=tmp_path,  # schemathesis keeps a .schemathesis/ cache in its working folder
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        gateway.stop()
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
