"""The int8 part of the throughput benchmark: speed against FP32, and agreement with it."""

from __future__ import annotations

from argparse import Namespace
from pathlib import Path
from typing import Any

import numpy as np
from geopin.model.batching import Pixels
from geopin.model.runtime import CPU
from geopin.model.session import OnnxSession
from geopin.settings import ImageSettings, ModelSettings
from geopin_tools.model.architecture import StateDict
from geopin_tools.model.calibration import calibration_inputs
from geopin_tools.model.quantize import quantize_int8

from bench.measure import one_at_a_time, photos, side_by_side
from bench.report import Report, Size, agreement, agreement_text, size_name
from bench.variants import write_centred_model

CENTRING_PHOTOS = 16


def measure_int8(
    report: Report,
    fp32: OnnxSession,
    model_path: Path,
    args: Namespace,
    inputs: dict[Size, list[Pixels]],
    fp32_embeddings: dict[Size, Pixels],
    flops: dict[Size, int],
    peak: float,
) -> None:
    """Quantise the model; time it against FP32 call by call, then embed every photo with it."""
    int8 = _quantized(model_path, args.calibration)
    report.say(f"int8: static QDQ, calibrated on {args.calibration} generated photos at 512 px")
    for size, images in inputs.items():
        (reference, _), (single, _) = side_by_side([fp32.run, int8.run], images, args.repeats)
        _, embeddings = one_at_a_time(int8.run, images, len(images))
        speedup = single.images_per_s / reference.images_per_s
        equivalent = single.images_per_s * flops[size] / 1e9
        figures: dict[str, Any] = {
            "batch_1": single.summary(),
            "fp32_batch_1_alongside": reference.summary(),
            "speedup_vs_fp32_batch_1": round(speedup, 2),
            "fp32_equivalent_gflops": round(equivalent, 1),
            **agreement(fp32_embeddings[size], embeddings),
        }
        report.figures[f"CPU int8 {size_name(size)}"] = figures
        report.say(
            f"CPU int8 at {size_name(size)}: {single.images_per_s:.3f} img/s against FP32's "
            f"{reference.images_per_s:.3f} in turn with it: {speedup:.2f}x "
            f"(FP32-equivalent {equivalent:.1f} GFLOP/s = {equivalent / peak:.0%} of the GEMM peak)"
        )
        report.say(f"    vs FP32 on {len(images)} photos: {agreement_text(figures)}")


def measure_centred_agreement(
    report: Report,
    weights: StateDict,
    args: Namespace,
    size: Size,
    images: list[Pixels],
    folder: Path,
) -> None:
    """int8 agreement again, on the seeded backbone with a centred head (bench.variants)."""
    path = folder / "centred.onnx"
    centring = photos(size, CENTRING_PHOTOS, first_seed=len(images))
    write_centred_model(weights, args.backbone, args.dim, centring, path)
    fp32 = OnnxSession(ModelSettings(path=path, providers=[CPU]))
    reference = np.concatenate([fp32.run(image[np.newaxis]) for image in images])
    _, embeddings = one_at_a_time(_quantized(path, args.calibration).run, images, len(images))
    figures = agreement(reference, embeddings)
    report.figures[f"centred head int8 agreement {size_name(size)}"] = figures
    report.say(
        f"int8 vs FP32, seeded backbone with a centred head, {size_name(size)}, "
        f"{len(images)} photos: {agreement_text(figures)}"
    )


def _quantized(model_path: Path, calibration_count: int) -> OnnxSession:
    calibration = calibration_inputs(None, ImageSettings(), calibration_count)
    int8_path = model_path.with_name(f"{model_path.stem}-int8.onnx")
    quantize_int8(model_path, int8_path, calibration)
    return OnnxSession(ModelSettings(path=int8_path, providers=[CPU]))
