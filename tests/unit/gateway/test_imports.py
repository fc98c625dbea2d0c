"""The gateway never runs the model, so it never loads a model runtime or the toolchain."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

MODEL_MODULES = ("onnxruntime", "onnx", "geopin_tools", "geopin.model.session")


def test_the_wsgi_app_imports_no_model_runtime_and_no_toolchain(tmp_path: Path) -> None:
    # A fresh interpreter: this test process has imported the model for other tests.
    probe = "\n".join(
        [
            "import json, sys",
            "import geopin_gateway.wsgi",
            f"model = {MODEL_MODULES!r}",
            "loaded = [m for m in sys.modules if m in model or m.split('.')[0] in model]",
            "print(json.dumps(sorted(loaded)))",
        ]
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        env={"GEOPIN_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == []
