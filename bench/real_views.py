"""Real photos at a phone's size: 640x480 crops of Debian's wallpaper photographs.

Query photos and reference photos are different crops of the same photographs (queries at
the left, centre and right of each, references in between), so that searches find
something, and every photo is a real photograph's pixels, JPEG-encoded at quality 90.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

from PIL import Image

from tests.support.wallpapers import fetch, photos

SIZE = (640, 480)
QUERY_OFFSETS = (0.0, 0.5, 1.0)  # where the 4:3 crop sits along the photograph's width
REFERENCE_OFFSETS = (0.25, 0.75)


def _crop(photo: Image.Image, offset: float) -> bytes:
    width, height = photo.size
    crop_w = min(width, height * 4 // 3)
    crop_h = crop_w * 3 // 4
    left = round((width - crop_w) * offset)
    top = (height - crop_h) // 2
    view = photo.crop((left, top, left + crop_w, top + crop_h)).resize(
        SIZE, Image.Resampling.LANCZOS
    )
    buffer = io.BytesIO()
    view.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def _crops(cache: Path, count: int, offsets: tuple[float, ...]) -> list[bytes]:
    found = []
    paths = photos(fetch(cache))
    for offset in offsets:
        for path in paths:
            if len(found) == count:
                return found
            with Image.open(path) as photo:
                found.append(_crop(photo.convert("RGB"), offset))
    if len(found) < count:
        raise SystemExit(f"only {len(found)} crops from {len(paths)} photographs; ask for fewer")
    return found


def views(cache: Path, queries: int, references: int) -> tuple[list[bytes], Callable[[Path], Path]]:
    """``queries`` photos, and a writer of ``references`` others with a manifest into a folder
    (returning the manifest's path)."""
    reference_photos = _crops(cache, references, REFERENCE_OFFSETS)

    def write(folder: Path) -> Path:
        lines = ["path,lat,lon,id"]
        for number, data in enumerate(reference_photos):
            (folder / f"{number:04d}.jpg").write_bytes(data)
            lines.append(
                f"{number:04d}.jpg,{45 + number / 1000:.4f},{7 + number / 1000:.4f},ref-{number}"
            )
        manifest = folder / "manifest.csv"
        manifest.write_text("\n".join(lines) + "\n")
        return manifest

    return _crops(cache, queries, QUERY_OFFSETS), write
