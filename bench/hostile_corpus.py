"""A hostile corpus of uploads: what a public endpoint meets besides well-formed photos.

Four groups, written under ``.cache/hostile-corpus/`` (git-ignored, never committed):

- ``pillow``: every file of Pillow's own test images (``Tests/images`` of its source
  distribution, for the Pillow version installed here): broken, odd and exotic files in every
  format Pillow reads, gathered by its developers from bug reports and fuzzing;
- ``bombs``: decompression bombs (tiny files that declare or decode to far more pixels than
  ``GEOPIN_IMAGES__MAX_PIXELS``), and the largest photos GeoPin accepts, just under the limit,
  in the layouts that cost the most memory to decode (RGBA and 16-bit grey PNG, JPEG, WebP);
- ``truncated``: every JPEG, PNG and WebP of the other groups cut to half its length;
- ``sizes``: photos of many sizes and aspect ratios, so the network sees many input shapes.

::

    .venv/bin/python -m bench.hostile_corpus     # builds it once, then prints its size

The Pillow source distribution is fetched with pip (``pip download --no-binary :all:``).
"""

from __future__ import annotations

import argparse
import io
import random
import struct
import subprocess
import sys
import tarfile
import zlib
from collections.abc import Iterator
from pathlib import Path

import PIL
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / ".cache" / "hostile-corpus"
GROUPS = ("pillow", "bombs", "sizes", "truncated")  # truncated last: it cuts the others
MAX_PIXELS = 40_000_000  # GEOPIN_IMAGES__MAX_PIXELS' default
AT_LIMIT = 6_320  # a square side just under it: 6320^2 = 39,942,400 pixels
SIZES = 96


def build(corpus: Path = CORPUS) -> Path:
    """Write any group that is missing; returns ``corpus``."""
    writers = {"pillow": _pillow, "bombs": _bombs, "sizes": _sizes, "truncated": _truncated}
    for group in GROUPS:
        folder = corpus / group
        if not folder.is_dir():
            partial = corpus / f"{group}.partial"
            partial.mkdir(parents=True, exist_ok=True)
            writers[group](partial, corpus)
            partial.rename(folder)
    return corpus


def files(corpus: Path = CORPUS) -> Iterator[Path]:
    for group in GROUPS:
        yield from sorted(p for p in (corpus / group).iterdir() if p.is_file())


def _pillow(folder: Path, corpus: Path) -> None:
    sdist_dir = corpus / "sdist"
    sdist_dir.mkdir(parents=True, exist_ok=True)
    version = PIL.__version__
    archive = sdist_dir / f"pillow-{version}.tar.gz"
    if not archive.exists():
        subprocess.run(
            [
                *(sys.executable, "-m", "pip", "download", "--quiet", "--no-binary", ":all:"),
                *("--no-deps", f"pillow=={version}", "--dest", str(sdist_dir)),
            ],
            check=True,
        )
    with tarfile.open(archive) as tar:
        for member in tar.getmembers():
            parts = member.name.split("/")
            if member.isfile() and parts[1:3] == ["Tests", "images"]:
                source = tar.extractfile(member)
                assert source is not None
                (folder / "__".join(parts[3:])).write_bytes(source.read())


def _png(width: int, height: int, colour_type: int, bit_depth: int, row: bytes) -> bytes:
    """A PNG of ``height`` identical rows, compressed as it is written (no canvas in memory)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    compressor, out = zlib.compressobj(9), io.BytesIO()
    line = b"\0" + row  # filter type 0 (none) before each row
    for _ in range(height):
        out.write(compressor.compress(line))
    out.write(compressor.flush())
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", out.getvalue())
        + chunk(b"IEND", b"")
    )


def _declared(data: bytes, marker: bytes, offset: int, fields: bytes) -> bytes:
    """``data`` with ``fields`` written ``offset`` bytes after the first ``marker``."""
    at = data.index(marker) + offset
    return data[:at] + fields + data[at + len(fields) :]


def _encoded(image: Image.Image, image_format: str, **params: object) -> bytes:
    out = io.BytesIO()
    image.save(out, image_format, **params)
    return out.getvalue()


def _bombs(folder: Path, corpus: Path) -> None:
    small_jpeg = _encoded(Image.new("RGB", (8, 8)), "JPEG")
    small_webp = _encoded(Image.new("RGB", (8, 8)), "WEBP")
    small_png = _encoded(Image.new("L", (8, 8)), "PNG")
    grey_side = 12_000  # 144 MP of real, decodable zeros
    blobs = {
        "png-grey-144mp.png": _png(grey_side, grey_side, 0, 8, bytes(grey_side)),
        "png-declares-10g-pixels.png": _declared(
            small_png, b"IHDR", 4, struct.pack(">II", 100_000, 100_000)
        ),
        "jpeg-declares-65500-square.jpg": _declared(
            small_jpeg, b"\xff\xc0", 5, struct.pack(">HH", 65_500, 65_500)
        ),
        "webp-declares-16383-square.webp": _declared(
            small_webp, b"VP8 ", 18, struct.pack("<HH", 16_383, 16_383)
        ),
        # Accepted: just under the limit, in the layouts that take most memory to decode.
        "png-rgba-at-limit.png": _png(
            AT_LIMIT, AT_LIMIT, 6, 8, bytes([40, 90, 160, 128]) * AT_LIMIT
        ),
        "png-grey16-at-limit.png": _png(AT_LIMIT, AT_LIMIT, 0, 16, b"\x80\x00" * AT_LIMIT),
        "jpeg-at-limit.jpg": _encoded(
            Image.new("RGB", (AT_LIMIT, AT_LIMIT), (90, 120, 60)), "JPEG"
        ),
        "webp-at-limit.webp": _encoded(
            Image.new("RGB", (AT_LIMIT, AT_LIMIT), (90, 120, 60)), "WEBP", quality=50, method=0
        ),
    }
    for name, data in blobs.items():
        (folder / name).write_bytes(data)


def _sizes(folder: Path, corpus: Path) -> None:
    """Photo-like pictures (gradients and blocks, JPEG) with sizes drawn from 64 to 4,000 px."""
    rng = random.Random(12)
    for number in range(SIZES):
        width, height = rng.randint(64, 4_000), rng.randint(64, 4_000)
        image = Image.linear_gradient("L").resize((width, height)).convert("RGB")
        image.paste((rng.randrange(256), 80, 40), (0, 0, width // 3, height // 2))
        data = _encoded(image, "JPEG", quality=85)
        (folder / f"photo-{number:03d}-{width}x{height}.jpg").write_bytes(data)


def _truncated(folder: Path, corpus: Path) -> None:
    for group in ("pillow", "bombs", "sizes"):
        for path in sorted((corpus / group).iterdir()):
            if path.suffix.lower() in (".jpg", ".jpeg", ".png", ".webp"):
                data = path.read_bytes()
                (folder / f"{group}__{path.name}").write_bytes(data[: len(data) // 2])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    corpus = build(parser.parse_args().corpus)
    total_files = total_bytes = 0
    for group in GROUPS:
        sizes = [p.stat().st_size for p in (corpus / group).iterdir() if p.is_file()]
        total_files, total_bytes = total_files + len(sizes), total_bytes + sum(sizes)
        print(f"{group:<10}{len(sizes):>7} files {sum(sizes):>14,} bytes")
    print(f"{'total':<10}{total_files:>7} files {total_bytes:>14,} bytes  in {corpus}")


if __name__ == "__main__":
    main()
