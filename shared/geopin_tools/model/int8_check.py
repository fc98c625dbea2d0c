"""Does an int8 model pay? Its speed and its agreement with the FP32 parent, on held-out photos.

int8 is worth serving only if it is clearly faster and a search with it returns what the FP32
model's would. Neither is a given: a network whose activations quantise badly (the default
model's, docs/benchmarks.md) loses its neighbours, and a graph that ONNX Runtime cannot run
in int8 end to end is no faster. So ``geopin model quantize`` measures both on photos that the
calibration did not see, and writes the model only where it meets the targets.

Speed is timed on this machine with the two models called in turn, photo by photo, the order
alternating, so that load from other processes falls on both alike; the ratio holds even
where the absolute times do not.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from geopin.model.runtime import CPU
from geopin.model.session import OnnxSession
from geopin.settings import ModelSettings

from geopin_tools.model.agreement import cosines, top_k_overlap
from geopin_tools.model.quantize import QuantizedModel, quantize_int8

Run = Callable[[npt.NDArray[np.float32]], npt.NDArray[np.float32]]
TOP_K = 10
MIN_CHECK_PHOTOS = TOP_K + 2  # each photo needs more than k others to have k neighbours


@dataclass(frozen=True)
class Targets:
    """What int8 must reach to be written without ``--accept-worse``."""

    speedup: float = 1.5
    top_10_overlap: float = 0.95
    # Top-10 among a few dozen photos is a lenient test (ten neighbours are a third of the
    # set), so the photo int8 moves furthest is held to a bound as well: on the default model
    # with every convolution in int8 it was 0.86 on the check photos and 0.77 over a thousand
    # real ones, against 0.98 and above once its first six stay FP32 (docs/benchmarks.md).
    cosine_min: float = 0.97


@dataclass(frozen=True)
class SideBySide:
    """Both models' embeddings of the same photos, and each call's seconds."""

    fp32: npt.NDArray[np.float32]
    int8: npt.NDArray[np.float32]
    fp32_seconds: list[float]
    int8_seconds: list[float]

    @property
    def speedup(self) -> float:
        return sum(self.fp32_seconds) / sum(self.int8_seconds)


@dataclass(frozen=True)
class Int8Check:
    photos: int
    speedup: float
    fp32_ms: float  # median per photo
    int8_ms: float
    top_10_overlap: float
    cosine_median: float
    cosine_min: float

    def lines(self) -> list[str]:
        """One line per figure, as the command prints them."""
        return [
            f"speed-up over FP32: {self.speedup:.2f}x "
            f"(median {self.fp32_ms:.0f} ms FP32, {self.int8_ms:.0f} ms int8 per photo)",
            f"top-{TOP_K} overlap with FP32: {self.top_10_overlap:.3f}",
            f"cosine with FP32: median {self.cosine_median:.4f}, min {self.cosine_min:.4f}",
        ]

    def shortfalls(self, targets: Targets) -> list[str]:
        """The targets missed, each with its figure; empty where int8 pays."""
        missed = []
        if self.speedup < targets.speedup:
            missed.append(f"speed-up {self.speedup:.2f}x < {targets.speedup:g}x")
        if self.top_10_overlap < targets.top_10_overlap:
            missed.append(
                f"top-{TOP_K} overlap {self.top_10_overlap:.3f} < {targets.top_10_overlap:g}"
            )
        if self.cosine_min < targets.cosine_min:
            missed.append(f"worst cosine {self.cosine_min:.4f} < {targets.cosine_min:g}")
        return missed


def side_by_side(
    fp32: Run,
    int8: Run,
    inputs: Iterable[npt.NDArray[np.float32]],
    progress: Callable[[int], None] = lambda done: None,
) -> SideBySide:
    """Each input through both models in turn (batch 1), after one untimed call each.

    The inputs may be a generator: a benchmark's thousand photos need not sit in memory.
    """
    runs = (fp32, int8)
    vectors: tuple[list[npt.NDArray[np.float32]], ...] = ([], [])
    seconds: tuple[list[float], ...] = ([], [])
    for number, pixels in enumerate(inputs):
        if number == 0:
            for run in runs:
                run(pixels[np.newaxis])
        for model in (0, 1) if number % 2 == 0 else (1, 0):
            started = time.perf_counter()
            vectors[model].append(runs[model](pixels[np.newaxis])[0])
            seconds[model].append(time.perf_counter() - started)
        progress(number + 1)
    return SideBySide(np.stack(vectors[0]), np.stack(vectors[1]), seconds[0], seconds[1])


def check_int8(fp32: Run, int8: Run, held_out: Sequence[npt.NDArray[np.float32]]) -> Int8Check:
    """Speed and agreement of ``int8`` with ``fp32`` on photos the calibration did not see."""
    if len(held_out) < MIN_CHECK_PHOTOS:
        raise ValueError(f"the int8 check needs at least {MIN_CHECK_PHOTOS} photos")
    measured = side_by_side(fp32, int8, held_out)
    agreement = cosines(measured.fp32, measured.int8)
    return Int8Check(
        photos=len(held_out),
        speedup=measured.speedup,
        fp32_ms=float(np.median(measured.fp32_seconds)) * 1000,
        int8_ms=float(np.median(measured.int8_seconds)) * 1000,
        top_10_overlap=top_k_overlap(measured.fp32, measured.int8, TOP_K),
        cosine_median=float(np.median(agreement)),
        cosine_min=float(np.min(agreement)),
    )


@dataclass(frozen=True)
class Verdict:
    model: QuantizedModel
    check: Int8Check
    shortfalls: list[str]
    written: bool


def quantize_checked(
    source: Path,
    target: Path,
    calibration: Sequence[npt.NDArray[np.float32]],
    held_out: Sequence[npt.NDArray[np.float32]],
    runtime: ModelSettings,
    targets: Targets,
    accept_worse: bool = False,
    float_convs: int | None = None,
) -> Verdict:
    """Quantise ``source``, check the int8 model on ``held_out``, and write it only if it pays.

    The int8 model is built beside ``target`` and moved there once the check passes (or
    ``accept_worse`` says to keep it anyway), so a refused model never takes the place of an
    existing file. Both models run on the CPU, which is what int8 is for, with the
    deployment's thread settings from ``runtime``.
    """
    candidate = target.with_name(f".{target.name}.checking")
    try:
        model = quantize_int8(source, candidate, calibration, float_convs)
        fp32, int8 = (
            OnnxSession(runtime.model_copy(update={"path": path, "providers": [CPU]}))
            for path in (source, candidate)
        )
        check = check_int8(fp32.run, int8.run, held_out)
        shortfalls = check.shortfalls(targets)
        written = accept_worse or not shortfalls
        if written:
            os.replace(candidate, target)
    finally:
        candidate.unlink(missing_ok=True)
    return Verdict(model, check, shortfalls, written)
