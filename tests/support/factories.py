"""Small factories of test data: generated "street photos" with coordinates."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

from geopin_tools.model.calibration import synthetic_photo
from PIL import Image

AMSTERDAM = (52.3676, 4.9041)

# The generator lives in shared/ because int8 calibration uses it too; tests know it by this name.
place_photo = synthetic_photo


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


def geotagged(
    image: Image.Image,
    fmt: str,
    lat: float,
    lon: float,
    heading: float | None = None,
    taken: str | None = None,
) -> bytes:
    """``image`` encoded as JPEG, WEBP, PNG or HEIF with EXIF GPS (and heading, time) tags."""
    import pillow_heif

    def dms(value: float) -> tuple[float, float, float]:
        degrees, rest = divmod(abs(value), 1)
        minutes, rest = divmod(rest * 60, 1)
        return degrees, minutes, round(rest * 60, 4)

    gps: dict[int, object] = {
        1: "N" if lat >= 0 else "S",
        2: dms(lat),
        3: "E" if lon >= 0 else "W",
        4: dms(lon),
    }
    if heading is not None:
        gps.update({16: "T", 17: heading})
    exif = Image.Exif()
    exif[0x8825] = gps
    if taken is not None:
        exif[0x8769] = {36867: taken}
    if fmt == "HEIF":
        buffer = io.BytesIO()
        pillow_heif.from_pillow(image).save(buffer, quality=90, exif=exif.tobytes())
        return buffer.getvalue()
    return encode(image, fmt, exif=exif)


# A street in UTM zone 31U (Amsterdam), as VPR datasets name their photos.
UTM_ZONE, UTM_LETTER, UTM_EAST, UTM_NORTH = 31, "U", 629_000.0, 5_806_000.0


def vpr_name(east: float, north: float, heading: float = 0.0, with_latlon: bool = True) -> str:
    """``@east@north@zone@letter@lat@lon@pano@tile@heading@pitch@roll@height@time@note@.jpg``."""
    import utm

    lat, lon = utm.to_latlon(east, north, UTM_ZONE, UTM_LETTER)
    latlon = [f"{lat:.7f}", f"{lon:.7f}"] if with_latlon else ["", ""]
    fields = [f"{east:.2f}", f"{north:.2f}", str(UTM_ZONE), UTM_LETTER, *latlon, "", ""]
    return "@" + "@".join([*fields, f"{heading:g}", "", "", "", "", ""]) + "@.jpg"


def write_vpr_dataset(root: Path, database: int, queries: list[tuple[int | None, float]]) -> Path:
    """A VPR-format dataset: ``database`` photos 40 m apart along a street; each query is
    ``(copy_of, offset_m)``: a byte-exact copy of that database photo (or, for None, a photo
    of its own) placed ``offset_m`` metres east of the database photo ``copy_of or 0``.
    """
    db_dir, q_dir = root / "images/test/database", root / "images/test/queries"
    db_dir.mkdir(parents=True)
    q_dir.mkdir(parents=True)
    photos = [encode(place_photo(seed), quality=92) for seed in range(database)]
    for i, photo in enumerate(photos):
        (db_dir / vpr_name(UTM_EAST + 40 * i, UTM_NORTH)).write_bytes(photo)
    for q, (copy_of, offset_m) in enumerate(queries):
        east = UTM_EAST + 40 * (copy_of or 0) + offset_m
        photo = photos[copy_of] if copy_of is not None else encode(place_photo(1000 + q))
        (q_dir / vpr_name(east, UTM_NORTH + q * 0.01)).write_bytes(photo)
    return root
