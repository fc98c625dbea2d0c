"""The throughput benchmark's code paths, on a tiny model and a few images (the figures are
docs/benchmarks.md's; these tests only check that each path runs and reports what it should)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
TINY = [
    "--backbone", "ResNet18", "--dim", "32", "--sizes", "64x64,64x96", "--burst", "12",
    "--max-batch", "4", "--repeats", "2", "--calibration", "2",
    "--gemm-sizes", "128", "--gemm-repeats", "1",
]  # fmt: skip


def _run_bench(*arguments: str) -> subprocess.CompletedProcess[str]:
    # As a program, the way it is run for the figures: tests never import bench/.
    return subprocess.run(
        [sys.executable, "-m", "bench.throughput", *arguments],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _results(folder: Path) -> tuple[dict[str, Any], str]:
    return json.loads((folder / "results.json").read_text()), (folder / "results.txt").read_text()


def test_cpu_run_measures_fp32_batching_and_int8_against_the_gemm_peak(tmp_path: Path) -> None:
    done = _run_bench(*TINY, "--quick", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    figures, text = _results(tmp_path)
    assert figures["gemm"]["peak_gflops"] > 0
    assert figures["gemm"]["blas"]  # which BLAS kernel numpy ran
    for size in ("64x64", "64x96"):
        fp32 = figures[f"CPU fp32 {size}"]
        assert fp32["batch_1"]["images"] == 2
        assert fp32["burst"]["images"] == 12
        assert fp32["burst"]["mean_batch"] > 1  # the burst really was batched
        assert fp32["batch_1_share_of_gemm_peak"] > 0
        int8 = figures[f"CPU int8 {size}"]
        assert int8["speedup_vs_fp32_batch_1"] > 0
        assert 0.9 < int8["cosine"]["min"] <= int8["cosine"]["median"] <= 1.0 + 1e-6
        assert 0 <= int8["top_10_overlap"] <= 1
    assert "top-10 overlap" in text
    assert "PyTorch eager reference: not run" in text


def test_centred_head_agreement_is_measured_outside_quick_runs(tmp_path: Path) -> None:
    done = _run_bench(*TINY, "--sizes", "64x64", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    figures, _ = _results(tmp_path)
    centred = figures["centred head int8 agreement 64x64"]
    # Centring spreads the descriptors: different photos are far from parallel.
    assert centred["reference_pairwise_cosine"]["median"] < 0.9


def test_gpu_script_runs_its_benchmark_on_the_cpu_where_no_gpu_provider_exists(
    tmp_path: Path,
) -> None:
    environment = {**os.environ, "GEOPIN_BENCH_PYTHON": sys.executable}
    done = subprocess.run(
        ["bash", str(ROOT / "bench/gpu/run.sh"), str(tmp_path / "out"), *TINY],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    figures, text = _results(tmp_path / "out")
    assert "CPU fp32 64x64" in figures
    assert not any("int8" in key for key in figures)  # the GPU run has no int8 model
    assert "burst of 12" in text


def test_gpu_script_says_how_to_call_it() -> None:
    done = subprocess.run(
        ["bash", str(ROOT / "bench/gpu/run.sh")], capture_output=True, text=True, check=False
    )
    assert done.returncode == 2
    assert "usage:" in done.stderr


@pytest.mark.parametrize("argument", ["--sizes", "--gemm-sizes"])
def test_size_lists_must_be_numbers(argument: str) -> None:
    done = _run_bench(argument, "big")
    assert done.returncode == 2
    assert "invalid" in done.stderr
