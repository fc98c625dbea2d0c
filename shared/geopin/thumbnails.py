"""Small JPEG copies of reference photos: made at ingestion, served to the web page.

A thumbnail is stored with its reference in the reference index (each backend says how), the
one store every process of a deployment reaches: ingestion writes it with the reference, so
it is replaced with it and goes with its index version, and the gateway reads it from the
live version. Nothing is written to a local folder, which a gateway container or pod would
not see.
"""

from __future__ import annotations

import io
from typing import Protocol

from PIL import Image

JPEG_QUALITY = 80


class ThumbnailStore(Protocol):
    def get(self, reference_id: str) -> bytes | None:
        """The live index's thumbnail of this reference; None when it has none."""


def thumbnail_jpeg(image: Image.Image, max_side: int) -> bytes:
    """The photo shrunk to fit ``max_side`` (never enlarged), as a baseline JPEG."""
    small = image.convert("RGB")
    small.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    small.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True)
    return out.getvalue()
