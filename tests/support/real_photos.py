"""Places and queries cut from real photographs, for the real-photo benchmark and its tests.

Each photograph (:mod:`tests.support.wallpapers`) is cut into a grid of tiles; each tile is a
"place" and its reference photo; :func:`query` makes the photo someone else would take of it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter

from tests.support.factories import encode

Box = tuple[int, int, int, int]
PHOTO_WIDTH = 1536  # photographs are resized to this width before tiling
STRENGTHS = ("mild", "strong", "all-strong")


@dataclass(frozen=True)
class Place:
    """One tile: which photograph and where in it."""

    name: str
    photo: Image.Image
    box: Box


def places(paths: Sequence[Path], columns: int, rows: int) -> list[Place]:
    """Every tile of every photograph, each a place of its own."""
    found = []
    for path in paths:
        with Image.open(path) as opened:
            image = opened.convert("RGB")
        height = round(image.height * PHOTO_WIDTH / image.width)
        image = image.resize((PHOTO_WIDTH, height), Image.Resampling.LANCZOS)
        width, tile_height = PHOTO_WIDTH // columns, height // rows
        for row in range(rows):
            for column in range(columns):
                left, top = column * width, row * tile_height
                box = (left, top, left + width, top + tile_height)
                found.append(Place(f"{path.parent.name}-{path.stem}-{row}{column}", image, box))
    return found


def reference(place: Place) -> bytes:
    return encode(place.photo.crop(place.box), quality=92)


def query(place: Place, strength: str, seed: int) -> bytes:
    """The place seen again, always from a shifted and zoomed view.

    ``mild``: a small shift, light blur, JPEG 70. ``strong``: a large shift plus one strong
    change, taking turns over the places: light, colour cast, blur, an occluding object, JPEG
    25. ``all-strong``: the large shift and every strong change at once.
    """
    rng = np.random.default_rng(seed)
    if strength == "mild":
        view = _shifted(place, rng, shift=0.05, zoom=0.95)
        return encode(view.filter(ImageFilter.GaussianBlur(0.8)), quality=70)
    view = _shifted(place, rng, shift=0.15, zoom=0.85)
    if strength == "strong":
        return with_strong_change(view, rng, seed)
    for change in _STRONG_CHANGES:
        if change is not None:
            view = change(view, rng)
    return encode(view, quality=25)


def with_strong_change(view: Image.Image, rng: np.random.Generator, turn: int) -> bytes:
    """``view`` as a JPEG with one strong change, taking turns by ``turn``: light, colour
    cast, blur, an occluding object, JPEG 25."""
    change = _STRONG_CHANGES[turn % len(_STRONG_CHANGES)]
    if change is None:
        return encode(view, quality=25)
    return encode(change(view, rng), quality=92)


def _shifted(place: Place, rng: np.random.Generator, shift: float, zoom: float) -> Image.Image:
    """The tile's view moved by ``shift`` of its size diagonally and zoomed in to ``zoom``."""
    left, top, right, bottom = place.box
    width, height = right - left, bottom - top
    dx = int(rng.choice([-1, 1]) * shift * width)
    dy = int(rng.choice([-1, 1]) * shift * height)
    crop_w, crop_h = int(width * zoom), int(height * zoom)
    x0 = int(np.clip(left + dx + (width - crop_w) // 2, 0, place.photo.width - crop_w))
    y0 = int(np.clip(top + dy + (height - crop_h) // 2, 0, place.photo.height - crop_h))
    return place.photo.crop((x0, y0, x0 + crop_w, y0 + crop_h)).resize((width, height))


def _light(view: Image.Image, rng: np.random.Generator) -> Image.Image:
    return ImageEnhance.Brightness(view).enhance(float(rng.choice([0.6, 1.4])))


def _colour(view: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Half the saturation and a warm or cold cast."""
    gains = np.array([1.12, 0.97, 0.85]) if rng.random() < 0.5 else np.array([0.85, 0.97, 1.12])
    pale = np.asarray(ImageEnhance.Color(view).enhance(0.5), np.float32)
    return Image.fromarray(np.clip(pale * gains, 0, 255).astype(np.uint8))


def _blur(view: Image.Image, rng: np.random.Generator) -> Image.Image:
    return view.filter(ImageFilter.GaussianBlur(2.0))


def _occlude(view: Image.Image, rng: np.random.Generator) -> Image.Image:
    """A solid object (a passer-by, a sign) over a sixth of the picture, somewhere random."""
    covered = view.copy()
    w, h = int(view.width * 0.45), int(view.height * 0.45)
    x, y = int(rng.integers(0, view.width - w)), int(rng.integers(0, view.height - h))
    colour = tuple(int(c) for c in rng.integers(0, 256, 3))
    ImageDraw.Draw(covered).ellipse((x, y, x + w, y + h), fill=colour)
    return covered


# The strong changes in turn; None stands for JPEG quality 25, applied when encoding.
_STRONG_CHANGES: list[Callable[[Image.Image, np.random.Generator], Image.Image] | None] = [
    _light,
    _colour,
    _blur,
    _occlude,
    None,
]


def recall(similarity: npt.NDArray[np.float64], at: Sequence[int] = (1, 5)) -> dict[int, float]:
    """Share of queries (rows) whose own reference (same index) is among the N most similar."""
    ranks = np.argsort(-similarity, axis=1)
    truth = np.arange(similarity.shape[0])[:, None]
    return {n: float(np.mean(np.any(ranks[:, :n] == truth, axis=1))) for n in at}
