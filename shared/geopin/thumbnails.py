"""Small JPEG copies of reference photos: written at ingestion, served to the web page.

A thumbnail is kept apart from the index: the index holds vectors and places, and a rebuild
for a new model should not copy pictures. Files are named by the sha256 of the reference ID,
so any ID (slashes, dots, unicode) maps to one safe file name and never to a path outside.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from pathlib import Path
from typing import Protocol

from PIL import Image

JPEG_QUALITY = 80


class ThumbnailStore(Protocol):
    def put(self, reference_id: str, jpeg: bytes) -> None: ...

    def get(self, reference_id: str) -> bytes | None: ...


def thumbnail_jpeg(image: Image.Image, max_side: int) -> bytes:
    """The photo shrunk to fit ``max_side`` (never enlarged), as a baseline JPEG."""
    small = image.convert("RGB")
    small.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    small.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True)
    return out.getvalue()


class FolderThumbnails:
    """One file per reference in a folder; writes are atomic (a reader never sees half)."""

    def __init__(self, folder: Path) -> None:
        self._folder = folder

    def _path(self, reference_id: str) -> Path:
        name = hashlib.sha256(reference_id.encode()).hexdigest()
        return self._folder / name[:2] / f"{name}.jpg"

    def put(self, reference_id: str, jpeg: bytes) -> None:
        path = self._path(reference_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".part")
        with os.fdopen(fd, "wb") as file:
            file.write(jpeg)
        os.replace(tmp, path)

    def get(self, reference_id: str) -> bytes | None:
        try:
            return self._path(reference_id).read_bytes()
        except FileNotFoundError:
            return None


class NoThumbnails:
    """Keeps nothing: for deployments that turned thumbnails off."""

    def put(self, reference_id: str, jpeg: bytes) -> None:
        return None

    def get(self, reference_id: str) -> bytes | None:
        return None
