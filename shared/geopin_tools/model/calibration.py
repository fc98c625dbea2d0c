"""Photos to calibrate int8 quantisation with, preprocessed exactly as the embedding worker does.

Static quantisation fixes each activation's int8 range from what the network computes on these
photos, so they should look like what it will embed: a folder of the deployment's own reference
photos is best. Without one, GeoPin generates street-photo-like pictures (coloured blocks over
smooth noise); they exercise every layer, but ranges from real photos fit real photos better.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import numpy.typing as npt
from geopin.images import ImageRejected, preprocess
from geopin.settings import ImageSettings
from PIL import Image, ImageDraw, ImageFilter

PHOTO_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".heic", ".heif"})
GENERATED_SIZE = (640, 480)  # a 4:3 phone photo, embedded at 683x512 by default


def synthetic_photo(seed: int, size: tuple[int, int] = (320, 240)) -> Image.Image:
    """A distinct, reproducible picture per seed: coloured blocks and ellipses over noise."""
    rng = np.random.default_rng(seed)
    width, height = size
    noise = rng.integers(0, 256, size=(height // 8, width // 8, 3), dtype=np.uint8)
    image = Image.fromarray(noise).resize(size, Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(image)
    for _ in range(12):
        x0, y0 = int(rng.integers(0, width)), int(rng.integers(0, height))
        x1, y1 = x0 + int(rng.integers(10, width // 2)), y0 + int(rng.integers(10, height // 2))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        if rng.random() < 0.5:
            draw.rectangle((x0, y0, x1, y1), fill=colour)
        else:
            draw.ellipse((x0, y0, x1, y1), fill=colour)
    return image.filter(ImageFilter.SMOOTH)


def calibration_inputs(
    folder: Path | None, settings: ImageSettings, count: int
) -> list[npt.NDArray[np.float32]]:
    """Up to ``count`` network inputs [3, H, W]: the folder's photos (sorted by name) or generated.

    Each photo goes through :func:`geopin.images.preprocess` with the worker's image settings,
    so calibration sees the resolution and normalisation the deployed model sees. A photo the
    worker would reject raises ValueError naming it.
    """
    photos = _folder_photos(folder) if folder is not None else _generated_photos()
    inputs: list[npt.NDArray[np.float32]] = []
    for name, data in photos:
        if len(inputs) == count:
            break
        try:
            inputs.append(preprocess(data, settings))
        except ImageRejected as exc:
            raise ValueError(f"calibration photo {name}: {exc}") from exc
    if not inputs:
        raise ValueError(f"no photos ({', '.join(sorted(PHOTO_SUFFIXES))}) in {folder}")
    return inputs


def _folder_photos(folder: Path) -> Iterator[tuple[str, bytes]]:
    for path in sorted(folder.iterdir()):
        if path.is_file() and path.suffix.lower() in PHOTO_SUFFIXES:
            yield path.name, path.read_bytes()


def _generated_photos() -> Iterator[tuple[str, bytes]]:
    """JPEGs from seeds far from those tests and benchmarks use, so they calibrate on others."""
    for seed in itertools.count(1_000_000):
        buffer = io.BytesIO()
        synthetic_photo(seed, GENERATED_SIZE).save(buffer, "JPEG", quality=90)
        yield f"generated #{seed}", buffer.getvalue()
