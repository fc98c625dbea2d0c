"""The machine's float32 GEMM peak as numpy reaches it: the yardstick for the model's FLOP rate.

Run on its own (``python -m bench.gemm 2048 4096``) it prints one JSON object: GFLOP/s per
matrix size (best of ``--repeats``), the best of them, and which BLAS kernel numpy ran.
:func:`measure_peak` runs it in a child process with ``OPENBLAS_CORETYPE`` and
``OPENBLAS_L2_SIZE`` removed: some machines set them to work around old OpenBLAS bugs, and
OpenBLAS reads them only when it loads, so they would pin a current numpy to a slower kernel.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from typing import Any

import numpy as np

OPENBLAS_OVERRIDES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def measure_peak(sizes: list[int], repeats: int) -> dict[str, Any]:
    """The GEMM figures from a child process without the OpenBLAS overrides."""
    removed = {name: os.environ[name] for name in OPENBLAS_OVERRIDES if name in os.environ}
    environment = {k: v for k, v in os.environ.items() if k not in OPENBLAS_OVERRIDES}
    command = [sys.executable, "-m", "bench.gemm", "--repeats", str(repeats), *map(str, sizes)]
    done = subprocess.run(command, env=environment, capture_output=True, text=True, check=True)
    figures: dict[str, Any] = json.loads(done.stdout)
    figures["unset_for_this_measurement"] = removed
    return figures


def _gflops(size: int, repeats: int, rng: np.random.Generator) -> float:
    a = rng.standard_normal((size, size), dtype=np.float32)
    b = rng.standard_normal((size, size), dtype=np.float32)
    a @ b  # warm-up: thread pool start, page faults
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - started)
    return 2 * size**3 / best / 1e9


def _blas() -> list[dict[str, Any]]:
    """The BLAS libraries numpy loaded, with the kernel (architecture) OpenBLAS chose."""
    from threadpoolctl import threadpool_info

    keys = ("internal_api", "version", "architecture", "num_threads", "threading_layer")
    return [{k: info.get(k) for k in keys} for info in threadpool_info()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="+", type=int)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    per_size = {size: _gflops(size, args.repeats, rng) for size in args.sizes}
    print(
        json.dumps(
            {"gflops": per_size, "peak_gflops": max(per_size.values()), "blas": _blas()},
        )
    )


if __name__ == "__main__":
    main()
