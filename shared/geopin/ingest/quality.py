"""Quality control: photos that would only add noise to the reference index are refused.

A reference photo is kept forever and answers every query near it, so a dark, blurred or
occluded one does harm for a long time: its embedding sits close to many unrelated queries.
The checks run on a small grey copy (longer side :data:`ANALYSIS_SIDE` pixels), so thresholds
mean the same for a 640x480 and a 4000x3000 photo, and a check costs milliseconds.

Each check is a cheap, well-known measure: the share of clipped pixels for exposure, the
variance of the Laplacian for blur, and for low information the entropy of the grey-level
histogram together with the share of flat blocks (a lens cap, a wall, a bus filling the frame).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final

import numpy as np
import numpy.typing as npt
from PIL import Image

from geopin.settings import QualitySettings

ANALYSIS_SIDE: Final = 512  # longer side of the grey copy the measures are taken on, pixels
BLOCK: Final = 16  # side of the square blocks whose flatness is measured, pixels


class Defect(StrEnum):
    """Why a photo was refused; the values appear in the ingestion report."""

    TOO_SMALL = "too-small"
    UNDEREXPOSED = "underexposed"
    OVEREXPOSED = "overexposed"
    LOW_INFORMATION = "low-information"
    BLURRED = "blurred"


@dataclass(frozen=True)
class Measures:
    """What the checks measured, kept so a report can say by how much a photo failed."""

    dark_share: float
    bright_share: float
    entropy_bits: float
    flat_share: float
    laplacian_var: float


@dataclass(frozen=True)
class Verdict:
    defect: Defect
    detail: str


def measure(image: Image.Image, settings: QualitySettings) -> Measures:
    grey = _analysis_copy(image)
    histogram = np.bincount(grey.astype(np.uint8).ravel(), minlength=256) / grey.size
    present = histogram[histogram > 0]
    return Measures(
        dark_share=float(histogram[: settings.dark_level + 1].sum()),
        bright_share=float(histogram[settings.bright_level :].sum()),
        entropy_bits=float(-(present * np.log2(present)).sum()) + 0.0,  # +0.0: no "-0.0"
        flat_share=_flat_share(grey, settings.flat_block_std),
        laplacian_var=float(_laplacian(grey).var()),
    )


def inspect(image: Image.Image, settings: QualitySettings) -> Verdict | None:
    """The first defect found, or None for a photo fit to index.

    The order matters for photos with several defects: a black frame is reported as
    underexposed rather than blurred, which is the cause a person can act on.
    """
    width, height = image.size
    if min(width, height) < settings.min_side:
        detail = f"{width}x{height}, shorter side under {settings.min_side}"
        return Verdict(Defect.TOO_SMALL, detail)
    m = measure(image, settings)
    if m.dark_share > settings.max_clipped_share:
        return Verdict(Defect.UNDEREXPOSED, f"{m.dark_share:.0%} of pixels clipped to black")
    if m.bright_share > settings.max_clipped_share:
        return Verdict(Defect.OVEREXPOSED, f"{m.bright_share:.0%} of pixels clipped to white")
    if m.entropy_bits < settings.min_entropy_bits:
        return Verdict(Defect.LOW_INFORMATION, f"grey-level entropy {m.entropy_bits:.2f} bits")
    if m.flat_share > settings.max_flat_share:
        return Verdict(Defect.LOW_INFORMATION, f"{m.flat_share:.0%} of the frame is uniform")
    if m.laplacian_var < settings.min_laplacian_var:
        return Verdict(Defect.BLURRED, f"variance of the Laplacian {m.laplacian_var:.1f}")
    return None


def _analysis_copy(image: Image.Image) -> npt.NDArray[np.float32]:
    grey = image.convert("L")
    scale = ANALYSIS_SIDE / max(grey.size)
    if scale < 1:
        size = (max(1, round(grey.width * scale)), max(1, round(grey.height * scale)))
        grey = grey.resize(size, Image.Resampling.BOX)  # BOX averages: no aliasing, no ringing
    return np.asarray(grey, dtype=np.float32)


def _laplacian(grey: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """The 4-neighbour Laplacian of the interior pixels: large where edges are sharp."""
    centre = grey[1:-1, 1:-1]
    return grey[1:-1, :-2] + grey[1:-1, 2:] + grey[:-2, 1:-1] + grey[2:, 1:-1] - 4 * centre


def _flat_share(grey: npt.NDArray[np.float32], max_std: float) -> float:
    rows, cols = grey.shape[0] // BLOCK, grey.shape[1] // BLOCK
    if rows == 0 or cols == 0:
        return 0.0
    blocks = grey[: rows * BLOCK, : cols * BLOCK].reshape(rows, BLOCK, cols, BLOCK)
    return float((blocks.std(axis=(1, 3)) < max_std).mean())
