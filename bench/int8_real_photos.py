"""int8 against FP32 on real photos: speed side by side, top-10 overlap, and R@1 paired.

The places and queries of :mod:`bench.real_photos` (tiles of Debian's wallpaper photographs),
with several ``strong`` queries per place so that the comparison rests on over a thousand
queries. The last photographs are held out of the evaluation: their tiles, and a query of
each, are written to a folder, and the int8 model is calibrated on the first photos of that
folder, exactly as ``geopin model quantize --calibration FOLDER`` would. (The command's own
check then uses the rest of the folder.)

Every reference and query is embedded by both models in turn, photo by photo, the order
alternating (:func:`geopin_tools.model.int8_check.side_by_side`), so the speed-up is
measured side by side under the same load. R@1 is the share of queries whose own place is
the nearest reference; its difference between the models has a 95 % interval from a
bootstrap over places (:mod:`geopin_tools.evaluation.paired`)::

    .venv/bin/python -m bench.int8_real_photos                    # the default model
    .venv/bin/python -m bench.int8_real_photos --model model.onnx
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from geopin.images import preprocess
from geopin.model.runtime import CPU
from geopin.model.session import OnnxSession
from geopin.settings import ImageSettings, ModelSettings
from geopin_tools.evaluation.paired import paired_difference
from geopin_tools.model.agreement import cosines, search_top_k_overlap
from geopin_tools.model.calibration import calibration_inputs
from geopin_tools.model.int8_check import TOP_K, Targets, side_by_side
from geopin_tools.model.quantize import quantize_int8

from tests.support.real_photos import Place, places, query, reference
from tests.support.wallpapers import fetch, photos

HELD_OUT_PHOTOGRAPHS = 6  # 36 tiles: 72 photos in the calibration folder
GRID = (3, 2)


def write_calibration_folder(held_out: list[Place], folder: Path) -> Path:
    """Each held-out tile and a query of it, as JPEGs named so that pairs sort together."""
    folder.mkdir(parents=True, exist_ok=True)
    for number, place in enumerate(held_out):
        (folder / f"{number:02d}-a-reference.jpg").write_bytes(reference(place))
        (folder / f"{number:02d}-b-query.jpg").write_bytes(query(place, "strong", number))
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=Path(".cache/bench/wallpapers"))
    parser.add_argument("--model", type=Path, help="an FP32 ONNX model (default: the default)")
    parser.add_argument("--queries-per-place", type=int, default=10)
    parser.add_argument("--calibration", type=int, default=32, help="calibration photos")
    parser.add_argument("--float-convs", type=int, help="leading convs in FP32 (per backbone)")
    parser.add_argument("--out", type=Path, default=Path(".cache/bench/int8"))
    args = parser.parse_args()

    paths = photos(fetch(args.cache))
    evaluated = places(paths[:-HELD_OUT_PHOTOGRAPHS], *GRID)
    folder = write_calibration_folder(
        places(paths[-HELD_OUT_PHOTOGRAPHS:], *GRID), args.out / "calibration"
    )
    model = args.model or _default_model(args.cache)
    int8_path = args.out / f"{model.stem}-int8.onnx"
    settings = ImageSettings()
    calibration = calibration_inputs(folder, settings, args.calibration)
    quantized = quantize_int8(model, int8_path, calibration, args.float_convs)
    fp32, int8 = (OnnxSession(ModelSettings(path=p, providers=[CPU])) for p in (model, int8_path))
    per_place = args.queries_per_place
    total = len(evaluated) * (1 + per_place)
    print(f"{model.name}: {len(evaluated)} places, {len(evaluated) * per_place} queries")
    print(
        f"calibrated on the first {len(calibration)} photos of {folder}; "
        f"first {quantized.float_convs} convolutions in FP32"
    )

    def inputs() -> Iterator[np.ndarray]:
        for place in evaluated:
            yield preprocess(reference(place), settings)
        for number, place in enumerate(evaluated):
            for seed in range(number * per_place, (number + 1) * per_place):
                yield preprocess(query(place, "strong", seed), settings)

    def progress(done: int) -> None:
        if done % 100 == 0 or done == total:
            print(f"  embedded {done}/{total} photos with both models", flush=True)

    measured = side_by_side(fp32.run, int8.run, inputs(), progress)
    count = len(evaluated)
    truth = np.repeat(np.arange(count), per_place)
    refs = {"fp32": measured.fp32[:count], "int8": measured.int8[:count]}
    queries = {"fp32": measured.fp32[count:], "int8": measured.int8[count:]}
    hits = {
        name: np.argmax(queries[name] @ refs[name].T, axis=1) == truth for name in ("fp32", "int8")
    }
    paired = paired_difference(hits["fp32"], hits["int8"], truth)
    overlap = search_top_k_overlap(
        queries["fp32"], refs["fp32"], queries["int8"], refs["int8"], TOP_K
    )
    agreement = cosines(measured.fp32, measured.int8)
    targets = Targets()
    figures = {
        "model": model.name,
        "places": count,
        "queries": len(truth),
        "calibration_photos": len(calibration),
        "float_convs": quantized.float_convs,
        "speedup": round(measured.speedup, 3),
        "fp32_ms_median": round(float(np.median(measured.fp32_seconds)) * 1000, 1),
        "int8_ms_median": round(float(np.median(measured.int8_seconds)) * 1000, 1),
        "top_10_overlap": round(overlap, 4),
        "cosine_median": round(float(np.median(agreement)), 5),
        "cosine_min": round(float(np.min(agreement)), 5),
        "r1_fp32": round(paired.recall_a, 4),
        "r1_int8": round(paired.recall_b, 4),
        "r1_difference": round(paired.difference, 4),
        "r1_difference_ci95": [round(paired.low, 4), round(paired.high, 4)],
        "queries_only_fp32_finds": paired.only_a,
        "queries_only_int8_finds": paired.only_b,
    }
    r1_within = paired.low <= 0 <= paired.high and max(-paired.low, paired.high) <= 0.01
    print(
        f"speed-up {measured.speedup:.2f}x (median {figures['fp32_ms_median']} ms FP32, "
        f"{figures['int8_ms_median']} ms int8, called in turn): target {targets.speedup}x"
    )
    print(f"top-{TOP_K} overlap {overlap:.3f}: target {targets.top_10_overlap}")
    print(f"cosine int8/FP32 median {np.median(agreement):.4f}, min {np.min(agreement):.4f}")
    print(
        f"R@1 FP32 {paired.recall_a:.3f}, int8 {paired.recall_b:.3f}: difference "
        f"{paired.difference:+.4f}, 95% CI [{paired.low:+.4f}, {paired.high:+.4f}] "
        f"(bootstrap over {paired.groups} places; {paired.only_a} queries only FP32 finds, "
        f"{paired.only_b} only int8): {'within' if r1_within else 'outside'} +-0.01 around 0"
    )
    (args.out / "results.json").write_text(json.dumps(figures, indent=2) + "\n")


def _default_model(cache: Path) -> Path:
    from geopin_tools.model.default_model import ensure_default_model

    return ensure_default_model(cache / "models")


if __name__ == "__main__":
    main()
