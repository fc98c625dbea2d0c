#!/usr/bin/env bash
# The GPU throughput benchmark in one command:
#
#   bench/gpu/run.sh OUTDIR [more bench.throughput options]
#
# Installs GeoPin with onnxruntime-gpu into a throwaway virtual environment (onnxruntime and
# onnxruntime-gpu are one Python module from two distributions and cannot share one), then runs
# `python -m bench.throughput --gpu`: the CUDA provider and, where TensorRT's libraries are
# installed, the TensorRT provider, each in FP32 and FP16 with FP16's cosine against FP32,
# batch 1 and under a burst through the worker's MicroBatcher. It writes OUTDIR/results.json
# and OUTDIR/results.txt. The `cuda` and `cudnn` extras of onnxruntime-gpu bring NVIDIA's
# libraries as wheels, so the host needs only the driver (R580+ for the CUDA 13 build).
#
# Offline, on a GPU host without PyPI: fetch the wheels elsewhere and set
# PIP_NO_INDEX=1 PIP_FIND_LINKS=/path/to/wheels, which pip reads from the environment.
# GEOPIN_BENCH_PYTHON=/path/to/python skips the install and runs with that interpreter as it
# is: that is how the test suite runs this script's CPU path.
set -euo pipefail

if [[ $# -lt 1 ]]; then
    echo "usage: $0 OUTDIR [bench.throughput options]" >&2
    exit 2
fi
out=$1
shift
root=$(cd -P "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
python=${GEOPIN_BENCH_PYTHON:-}
if [[ -z "$python" ]]; then
    scratch=$(mktemp -d)
    trap 'rm -rf "$scratch"' EXIT
    python3 -m venv "$scratch/venv"
    python="$scratch/venv/bin/python"
    "$python" -m pip install --quiet --upgrade pip
    "$python" -m pip install --quiet "$root" threadpoolctl  # threadpoolctl: bench/gemm.py
    "$python" -m pip uninstall --quiet --yes onnxruntime
    gpu=$(grep '^onnxruntime-gpu==' "$root/requirements/gpu.txt")
    "$python" -m pip install --quiet "${gpu/onnxruntime-gpu/onnxruntime-gpu[cuda,cudnn]}"
fi
mkdir -p "$out"
cd "$root"
"$python" -m bench.throughput --gpu --max-batch 32 --burst 128 --repeats 20 --out "$out" "$@"
