"""Embedding throughput of a CosPlace model, next to the machine's GEMM peak, in one run.

    .venv/bin/python -m bench.throughput [--quick] [--out DIR]

It measures numpy's float32 GEMM peak, then embeds generated photos with ResNet-152, D = 512
(seeded weights: speed does not depend on training) at each ``--sizes`` resolution: FP32 one
image at a time, FP32 under a burst of ``--burst`` concurrent requests through the worker's
MicroBatcher, and the int8 model (``geopin model quantize``) one at a time, with its agreement
with FP32. ``--gpu`` runs the same measurements on the CUDA and TensorRT providers, FP32 and
FP16 (bench/gpu/run.sh). Results go to stdout and, with ``--out``, to results.json/.txt.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import os
import tempfile
from pathlib import Path
from typing import Any

import onnx
import onnxruntime as ort
from geopin.model.batching import Pixels
from geopin.model.runtime import CPU, CUDA, TENSORRT
from geopin.model.session import OnnxSession
from geopin.settings import ModelSettings
from geopin_tools.model.architecture import Backbone, seeded_state_dict
from geopin_tools.model.cost import macs_per_image
from geopin_tools.model.onnx_builder import build_cosplace_onnx, write_model

from bench.gemm import measure_peak
from bench.int8 import measure_centred_agreement, measure_int8
from bench.measure import Timing, burst, combined, one_at_a_time, photos
from bench.report import Report, Size, cosine_summary, cosine_text, size_name


def main(argv: list[str] | None = None) -> None:
    args = _arguments(argv)
    report = Report()
    with tempfile.TemporaryDirectory(prefix="geopin-bench-") as folder:
        _run(args, report, Path(folder))
    if args.out:
        report.write(args.out)


def _run(args: argparse.Namespace, report: Report, work: Path) -> None:
    now = datetime.datetime.now(datetime.UTC)
    report.say(f"GeoPin throughput benchmark, {now:%Y-%m-%d %H:%M} UTC")
    report.figures["machine"] = machine = _machine()
    report.say(f"machine: {machine['cpu']}, {machine['cores']} cores, load {machine['load']}")
    report.say(f"onnxruntime {ort.__version__}: {', '.join(machine['providers'])}")
    gemm = report.figures["gemm"] = measure_peak(args.gemm_sizes, args.gemm_repeats)
    peak = gemm["peak_gflops"]
    per_size = ", ".join(f"n = {n}: {g:.1f}" for n, g in gemm["gflops"].items())
    report.say(f"numpy float32 GEMM peak: {peak:.1f} GFLOP/s ({per_size})")
    report.say(f"    BLAS: {gemm['blas']}; unset for it: {gemm['unset_for_this_measurement']}")

    weights = seeded_state_dict(args.backbone, args.dim, seed=0)
    model_path = work / "fp32.onnx"
    write_model(build_cosplace_onnx(weights, args.backbone, args.dim, {}), model_path)
    graph = onnx.load(model_path)
    inputs = {size: photos(size, args.burst) for size in args.sizes}
    flops = {size: 2 * macs_per_image(graph, *size) for size in args.sizes}
    report.say(
        f"model: seeded {args.backbone}, D = {args.dim}; burst of {args.burst}, "
        f"max batch {args.max_batch}, max wait {args.max_wait_ms} ms"
    )

    fp32: dict[Size, Pixels] = {}
    for providers, fp16 in _configurations(args.gpu):
        settings = ModelSettings(
            path=model_path, providers=providers, fp16=fp16, engine_cache_dir=work / "engines"
        )
        session = OnnxSession(settings)
        if session.providers[0] != providers[0]:
            report.say(f"{providers[0]} did not start (its libraries?): skipped")
            continue
        label = f"{session.providers[0].removesuffix('ExecutionProvider')} {session.precision}"
        for size in args.sizes:
            # Batch 1 is timed before and after the burst, so both see the machine's load.
            before, _ = one_at_a_time(session.run, inputs[size], args.repeats // 2)
            wait_s = args.max_wait_ms / 1000
            many, embeddings = burst(session.run, inputs[size], args.max_batch, wait_s)
            after, _ = one_at_a_time(session.run, inputs[size], args.repeats - args.repeats // 2)
            single = combined(before, after)
            # numpy's GEMM runs on the CPU: a yardstick for CPU providers only.
            yardstick = peak if session.providers[0] == CPU else None
            entry = _entry(report, label, size, flops[size], yardstick, single, many)
            if fp16:
                entry["fp16_cosine_vs_fp32"] = parity = cosine_summary(fp32[size], embeddings)
                report.say(f"    FP16 vs FP32 cosine: {cosine_text(parity)}")
            else:
                fp32[size] = embeddings

    if not args.gpu:
        measure_int8(report, session, model_path, args, inputs, fp32, flops, peak)
        if not args.quick:
            size = args.sizes[0]
            measure_centred_agreement(report, weights, args, size, inputs[size], work)
    # Other processes on a shared machine come and go: a second GEMM measurement shows how
    # far the yardstick moved during the run.
    again = report.figures["gemm_after"] = measure_peak(args.gemm_sizes[-1:], args.gemm_repeats)
    load = report.figures["load_after"] = [round(value, 2) for value in os.getloadavg()]
    report.say(f"GEMM peak again at the end: {again['peak_gflops']:.1f} GFLOP/s; load {load}")
    report.figures["pytorch_reference"] = _pytorch()
    report.say(f"PyTorch eager reference: {report.figures['pytorch_reference']}")


def _entry(
    report: Report,
    label: str,
    size: Size,
    flops: int,
    peak: float | None,
    single: Timing,
    many: Timing,
) -> dict[str, Any]:
    achieved = single.images_per_s * flops / 1e9
    ratio = many.images_per_s / single.images_per_s
    entry: dict[str, Any] = {
        "gflop_per_image": round(flops / 1e9, 2),
        "batch_1": single.summary(),
        "burst": many.summary(),
        "burst_vs_batch_1": round(ratio, 3),
        "batch_1_gflops": round(achieved, 1),
        "batch_1_share_of_gemm_peak": round(achieved / peak, 3) if peak else None,
    }
    report.figures[f"{label} {size_name(size)}"] = entry
    report.say(f"{label} at {size_name(size)} ({flops / 1e9:.1f} GFLOP per image):")
    report.say(
        f"    batch 1: {single.images_per_s:.3f} img/s, p50 {single.percentile_ms(50):.0f} ms; "
        f"{achieved:.1f} GFLOP/s" + (f" = {achieved / peak:.0%} of the GEMM peak" if peak else "")
    )
    report.say(
        f"    burst of {many.images}: {many.images_per_s:.3f} img/s ({ratio:.2f}x batch 1), "
        f"p50 {many.percentile_ms(50):.0f} ms, p99 {many.percentile_ms(99):.0f} ms, "
        f"mean batch {entry['burst']['mean_batch']}"
    )
    return entry


def _configurations(gpu: bool) -> list[tuple[list[str], bool]]:
    """(providers, fp16) to measure: CPU FP32, or each GPU provider in FP32 then FP16."""
    if not gpu:
        return [([CPU], False)]
    if hasattr(ort, "preload_dlls"):  # onnxruntime-gpu: CUDA and cuDNN from NVIDIA's wheels
        ort.preload_dlls()
    available = ort.get_available_providers()
    preferences = [[TENSORRT, CUDA, CPU], [CUDA, CPU]]
    chosen = [
        (providers, fp16)
        for providers in preferences
        if providers[0] in available
        for fp16 in (False, True)
    ]
    return chosen or [([CPU], False)]


def _pytorch() -> str:
    if importlib.util.find_spec("torch") is None:
        return "not run: torch is not installed here (its PyPI build is a multi-GB CUDA wheel)"
    return "not run: torch is installed, but an eager timing is not part of this benchmark yet"


def _machine() -> dict[str, Any]:
    with open("/proc/cpuinfo") as info:
        names = [line.split(":", 1)[1].strip() for line in info if line.startswith("model name")]
    return {
        "cpu": names[0] if names else "unknown",
        "cores": os.cpu_count(),
        "load": [round(value, 2) for value in os.getloadavg()],
        "onnxruntime": ort.__version__,
        "providers": ort.get_available_providers(),
    }


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one size, fewer runs, no centring")
    parser.add_argument("--gpu", action="store_true", help="CUDA and TensorRT, FP32 and FP16")
    parser.add_argument("--backbone", type=Backbone, default=Backbone.RESNET152)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--sizes", type=_sizes, help="HxW,... (default 512x683,480x640)")
    parser.add_argument("--repeats", type=int, help="batch-1 calls timed (default 8; quick 3)")
    parser.add_argument("--burst", type=int, default=64, help="concurrent requests")
    parser.add_argument("--max-batch", type=int, default=8)
    parser.add_argument("--max-wait-ms", type=float, default=10.0)
    parser.add_argument("--calibration", type=int, help="int8 calibration photos (16; quick 4)")
    parser.add_argument("--gemm-sizes", type=_numbers, help="default 2048,4096,6144")
    parser.add_argument("--gemm-repeats", type=int, help="best of (default 5; quick 3)")
    parser.add_argument("--out", type=Path, help="folder for results.json and results.txt")
    args = parser.parse_args(argv)
    quick = args.quick
    args.sizes = args.sizes or ([(512, 683)] if quick else [(512, 683), (480, 640)])
    args.repeats = args.repeats or (3 if quick else 8)
    args.calibration = args.calibration or (4 if quick else 16)
    args.gemm_sizes = args.gemm_sizes or ([1024, 2048] if quick else [2048, 4096, 6144])
    args.gemm_repeats = args.gemm_repeats or (3 if quick else 5)
    return args


def _numbers(value: str) -> list[int]:
    return [int(part) for part in value.split(",")]


def _sizes(value: str) -> list[Size]:
    sizes = []
    for part in value.split(","):
        height, _, width = part.partition("x")
        sizes.append((int(height), int(width)))
    return sizes


if __name__ == "__main__":
    main()
