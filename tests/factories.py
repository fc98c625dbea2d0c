"""Small factories of test data: generated "street photos" with coordinates."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

AMSTERDAM = (52.3676, 4.9041)


def place_photo(seed: int, size: tuple[int, int] = (320, 240)) -> Image.Image:
    """A distinct, reproducible picture per seed: coloured blocks and stripes over noise."""
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


def encode(image: Image.Image, fmt: str = "JPEG", **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def perturbed(image: Image.Image) -> bytes:
    """The same place seen slightly differently: cropped by 4% a side and re-encoded."""
    width, height = image.size
    dx, dy = width // 25, height // 25
    return encode(image.crop((dx, dy, width - dx, height - dy)), quality=70)


def place_location(seed: int) -> tuple[float, float]:
    """Places on a grid of about 100 m around central Amsterdam."""
    lat, lon = AMSTERDAM
    return lat + (seed // 8) * 0.0009, lon + (seed % 8) * 0.0015


def write_reference_set(folder: Path, count: int) -> Path:
    """``count`` geotagged JPEGs and their manifest; returns the manifest's path."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["path,lat,lon,id"]
    for seed in range(count):
        name = f"place-{seed:03d}.jpg"
        (folder / name).write_bytes(encode(place_photo(seed), quality=92))
        lat, lon = place_location(seed)
        lines.append(f"{name},{lat:.6f},{lon:.6f},place-{seed:03d}")
    manifest = folder / "manifest.csv"
    manifest.write_text("\n".join(lines) + "\n")
    return manifest


def bomb_png(width: int = 20_000, height: int = 20_000) -> bytes:
    """A valid 1-bit PNG of width*height pixels in a few kilobytes: a decompression bomb."""
    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte, then all-black pixels
    compressor = zlib.compressobj(9)
    idat = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()

    def chunk(tag: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(tag + body)
        return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )
