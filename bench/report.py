"""What the throughput benchmark prints and saves, and how it summarises agreement."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from geopin.model.batching import Pixels
from geopin_tools.model.agreement import cosines, top_k_overlap

TOP_K = 10
Size = tuple[int, int]  # height, width


class Report:
    """Prints each line as it is measured and keeps the figures for results.json."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.figures: dict[str, Any] = {}

    def say(self, line: str = "") -> None:
        print(line, flush=True)
        self.lines.append(line)

    def write(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "results.json").write_text(json.dumps(self.figures, indent=2) + "\n")
        (folder / "results.txt").write_text("\n".join(self.lines) + "\n")


def size_name(size: Size) -> str:
    return f"{size[0]}x{size[1]}"


def agreement(reference: Pixels, other: Pixels) -> dict[str, Any]:
    """Per-image cosine and top-10 overlap of ``other`` with ``reference`` (same photos).

    The reference's own cosines between different photos come along: where they are close to
    1, neighbours are decided by tiny differences and top-10 overlap is a harsh test.
    """
    pairwise = (reference @ reference.T)[np.triu_indices(len(reference), 1)]
    return {
        "cosine": cosine_summary(reference, other),
        "top_10_overlap": round(top_k_overlap(reference, other, TOP_K), 4),
        "reference_pairwise_cosine": _spread(pairwise),
    }


def agreement_text(figures: dict[str, Any]) -> str:
    return (
        f"cosine {cosine_text(figures['cosine'])}; top-{TOP_K} overlap "
        f"{figures['top_10_overlap']:.3f}; FP32 cosine between different photos "
        f"{cosine_text(figures['reference_pairwise_cosine'])}"
    )


def cosine_summary(a: Pixels, b: Pixels) -> dict[str, float]:
    return _spread(cosines(a, b))


def cosine_text(summary: dict[str, float]) -> str:
    return f"min {summary['min']:.6f}, median {summary['median']:.6f}"


def _spread(values: Any) -> dict[str, float]:
    return {
        "min": float(np.min(values)),
        "median": float(np.median(values)),
        "max": float(np.max(values)),
    }
