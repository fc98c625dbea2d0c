"""Logging set up the same way in every GeoPin process."""

from __future__ import annotations

import logging


def configure_logging(level: str) -> None:
    # Pillow reports odd but usable files (corrupt EXIF, say) as warnings; log them instead.
    logging.captureWarnings(True)
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(processName)s %(name)s: %(message)s",
    )
