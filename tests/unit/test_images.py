"""Tests of geopin.images: every input is generated here, small, in memory."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable

import numpy as np
import pillow_heif
import pytest
from geopin.images import (
    ImageFormat,
    ImageRejected,
    ImageTooLarge,
    UndecodableImage,
    UnsupportedImageType,
    declared_pixels,
    decode_image,
    model_input_size,
    preprocess,
    resized_for_model,
    sniff_format,
    to_model_input,
    validate_upload,
)
from geopin.settings import ImageSettings, ResizePolicy
from PIL import Image

MAX_PIXELS = 40_000_000
RED, BLUE = (255, 0, 0), (0, 0, 255)
BACKGROUND = (124, 116, 104)  # ImageNet mean, what transparent pixels become
ORIENTATION = 0x0112
ALL_FORMATS = list(ImageFormat)
CHECKS = [pytest.param(validate_upload, id="validate"), pytest.param(decode_image, id="decode")]


def encode(image: Image.Image, image_format: ImageFormat, **params: object) -> bytes:
    """``image`` as bytes of ``image_format`` (HEIC through pillow-heif, no opener registered)."""
    buffer = io.BytesIO()
    if image_format is ImageFormat.HEIF:
        pillow_heif.from_pillow(image).save(buffer, quality=90, **params)
    else:
        image.save(buffer, image_format.name, **params)
    return buffer.getvalue()


def marked(width: int = 64, height: int = 32) -> Image.Image:
    """Blue, with a red block in the stored top-left corner: shows any rotation or flip."""
    image = Image.new("RGB", (width, height), BLUE)
    image.paste(RED, (0, 0, width // 4, height // 2))
    return image


def assert_close(pixel: object, expected: tuple[int, ...], tolerance: int) -> None:
    assert isinstance(pixel, tuple)
    assert all(abs(a - b) <= tolerance for a, b in zip(pixel, expected, strict=True)), pixel


def png_with_size(width: int, height: int) -> bytes:
    """A small valid PNG whose IHDR (and its CRC) is rewritten to claim ``width`` x ``height``."""
    data = encode(Image.new("L", (8, 8)), ImageFormat.PNG)
    chunk = b"IHDR" + struct.pack(">II", width, height) + data[24:29]
    return data[:12] + chunk + struct.pack(">I", zlib.crc32(chunk)) + data[33:]


def jpeg_with_size(width: int, height: int) -> bytes:
    data = encode(Image.new("RGB", (8, 8)), ImageFormat.JPEG)
    sof = data.index(b"\xff\xc0")
    return data[: sof + 5] + struct.pack(">HH", height, width) + data[sof + 9 :]


def webp_with_size(width: int, height: int) -> bytes:
    data = encode(Image.new("RGB", (8, 8)), ImageFormat.WEBP)
    assert data[12:16] == b"VP8 "
    return data[:26] + struct.pack("<HH", width, height) + data[30:]


# --- formats -------------------------------------------------------------------------------------


@pytest.mark.parametrize("image_format", ALL_FORMATS)
def test_each_supported_format_is_accepted_and_decoded(image_format: ImageFormat) -> None:
    data = encode(marked(), image_format)

    assert sniff_format(data) is image_format
    assert validate_upload(data, MAX_PIXELS) is image_format
    image = decode_image(data, MAX_PIXELS)
    assert (image.mode, image.size) == ("RGB", (64, 32))
    assert_close(image.getpixel((4, 4)), RED, tolerance=40)
    assert_close(image.getpixel((60, 28)), BLUE, tolerance=40)


@pytest.mark.parametrize(
    ("ftyp", "expected"),
    [
        (b"heic" + b"\0\0\0\0" + b"mif1heic", ImageFormat.HEIF),
        (b"mif1" + b"\0\0\0\0" + b"mif1heic", ImageFormat.HEIF),
        (b"mif1" + b"\0\0\0\0" + b"mif1avifmiaf", None),
        (b"avif" + b"\0\0\0\0" + b"mif1avif", None),
        (b"isom" + b"\0\0\0\0" + b"isomiso2", None),
    ],
    ids=["heic", "mif1-heic", "mif1-avif", "avif", "mp4"],
)
def test_heif_is_recognised_by_brand_and_avif_is_not(
    ftyp: bytes, expected: ImageFormat | None
) -> None:
    box = struct.pack(">I", 8 + len(ftyp)) + b"ftyp" + ftyp
    assert sniff_format(box + b"\0" * 32) is expected


# --- rejections ----------------------------------------------------------------------------------


def truncated(image_format: ImageFormat, keep: float = 2 / 3, **params: object) -> bytes:
    rng = np.random.default_rng(0)
    noise = Image.fromarray(rng.integers(0, 256, (96, 128, 3), dtype=np.uint8))
    data = encode(noise, image_format, **params)
    return data[: int(len(data) * keep)]


REJECTIONS = [
    pytest.param(b"", UndecodableImage, id="empty"),
    pytest.param(bytes(range(256)) * 4, UnsupportedImageType, id="random-bytes"),
    pytest.param(b"where was this photo taken?\n", UnsupportedImageType, id="text"),
    pytest.param(encode(marked(), ImageFormat.PNG)[:8], UndecodableImage, id="png-signature-only"),
    pytest.param(b"\xff\xd8\xff\xe0", UndecodableImage, id="jpeg-marker-only"),
    pytest.param(truncated(ImageFormat.JPEG), UndecodableImage, id="truncated-jpeg"),
    pytest.param(
        truncated(ImageFormat.JPEG, progressive=True),
        UndecodableImage,
        id="truncated-progressive-jpeg",
    ),
    pytest.param(truncated(ImageFormat.JPEG, keep=1.0)[:-2], UndecodableImage, id="jpeg-no-eoi"),
    pytest.param(truncated(ImageFormat.PNG), UndecodableImage, id="truncated-png"),
    pytest.param(truncated(ImageFormat.WEBP), UndecodableImage, id="truncated-webp"),
    pytest.param(truncated(ImageFormat.HEIF), UndecodableImage, id="truncated-heic"),
    pytest.param(png_with_size(30_000, 30_000), ImageTooLarge, id="png-bomb"),
    pytest.param(jpeg_with_size(65_000, 65_000), ImageTooLarge, id="jpeg-bomb"),
    pytest.param(webp_with_size(16_383, 16_383), ImageTooLarge, id="webp-bomb"),
]


@pytest.mark.parametrize("check", CHECKS)
@pytest.mark.parametrize(("data", "rejection"), REJECTIONS)
def test_bad_uploads_are_rejected_with_a_stable_code(
    check: Callable[[bytes, int], object], data: bytes, rejection: type[ImageRejected]
) -> None:
    with pytest.raises(rejection) as caught:
        check(data, MAX_PIXELS)
    assert caught.value.code == rejection.code
    assert caught.value.detail


@pytest.mark.parametrize("check", CHECKS)
@pytest.mark.parametrize("image_format", ["GIF", "BMP", "TIFF"])
def test_other_image_formats_are_unsupported(
    check: Callable[[bytes, int], object], image_format: str
) -> None:
    buffer = io.BytesIO()
    marked().save(buffer, image_format)
    with pytest.raises(UnsupportedImageType) as caught:
        check(buffer.getvalue(), MAX_PIXELS)
    assert caught.value.code == "unsupported-image-type"


def test_rejection_codes_are_the_ones_the_gateway_maps() -> None:
    codes = [UnsupportedImageType.code, UndecodableImage.code, ImageTooLarge.code]
    assert codes == ["unsupported-image-type", "undecodable-image", "image-too-many-pixels"]


@pytest.mark.parametrize("check", CHECKS)
@pytest.mark.parametrize("image_format", ALL_FORMATS)
def test_pixel_limit_is_inclusive(
    check: Callable[[bytes, int], object], image_format: ImageFormat
) -> None:
    data = encode(marked(100, 100), image_format)

    check(data, 10_000)
    with pytest.raises(ImageTooLarge, match="100x100"):
        check(data, 9_999)


@pytest.mark.parametrize("image_format", ALL_FORMATS)
def test_pillows_global_bomb_limit_is_not_consulted(
    image_format: ImageFormat, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Image.open would warn here (pixels between the limit and twice it); warnings are errors.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 6_000)
    assert decode_image(encode(marked(100, 100), image_format), 10_000).size == (100, 100)


def test_pillows_bomb_error_becomes_image_too_large(monkeypatch: pytest.MonkeyPatch) -> None:
    # The WebP plugin raises Pillow's error itself when opening, should max_pixels exceed it.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1_000)
    with pytest.raises(ImageTooLarge):
        decode_image(encode(marked(100, 100), ImageFormat.WEBP), 10_000)


def test_unreadable_exif_leaves_the_image_as_stored() -> None:
    data = encode(marked(), ImageFormat.WEBP, exif=b"Exif\0\0not a TIFF header")

    assert validate_upload(data, MAX_PIXELS) is ImageFormat.WEBP
    assert decode_image(data, MAX_PIXELS).size == (64, 32)


# --- orientation and colour ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("image_format", "orientation", "red_corner"),
    [
        (ImageFormat.JPEG, 6, (31, 0)),  # rotate 90 degrees clockwise: top-left goes top-right
        (ImageFormat.JPEG, 8, (0, 63)),  # rotate 90 degrees anticlockwise: goes bottom-left
        (ImageFormat.HEIF, 6, (31, 0)),  # libheif rotates; the EXIF tag must not rotate again
    ],
)
def test_exif_orientation_is_applied_once(
    image_format: ImageFormat, orientation: int, red_corner: tuple[int, int]
) -> None:
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    data = encode(marked(), image_format, exif=exif.tobytes())

    image = decode_image(data, MAX_PIXELS)

    assert image.size == (32, 64)
    assert_close(image.getpixel(red_corner), RED, tolerance=40)
    assert_close(image.getpixel((31 - red_corner[0], 63 - red_corner[1])), BLUE, tolerance=40)


def two_pixels(mode: str, left: int | tuple[int, ...], right: int | tuple[int, ...]) -> Image.Image:
    image = Image.new(mode, (2, 1))
    image.putpixel((0, 0), left)
    image.putpixel((1, 0), right)
    return image


def palette_image(transparent_index: int | None) -> Image.Image:
    image = two_pixels("P", 0, 1)
    image.putpalette([*RED, *BLUE])
    if transparent_index is not None:
        image.info["transparency"] = transparent_index
    return image


@pytest.mark.parametrize(
    ("source", "image_format", "expected"),
    [
        pytest.param(
            two_pixels("RGBA", (*RED, 255), (*RED, 0)),
            ImageFormat.PNG,
            [RED, BACKGROUND],
            id="RGBA",
        ),
        pytest.param(
            two_pixels("LA", (200, 255), (200, 0)),
            ImageFormat.PNG,
            [(200,) * 3, BACKGROUND],
            id="LA",
        ),
        pytest.param(palette_image(None), ImageFormat.PNG, [RED, BLUE], id="P"),
        pytest.param(palette_image(1), ImageFormat.PNG, [RED, BACKGROUND], id="P-transparent"),
        pytest.param(two_pixels("L", 77, 255), ImageFormat.PNG, [(77,) * 3, (255,) * 3], id="L"),
        pytest.param(two_pixels("1", 0, 1), ImageFormat.PNG, [(0,) * 3, (255,) * 3], id="1-bit"),
        pytest.param(
            two_pixels("I;16", 128 * 257, 65_535),
            ImageFormat.PNG,
            [(128,) * 3, (255,) * 3],
            id="I;16",
        ),
        pytest.param(
            two_pixels("RGBA", (*BLUE, 255), (*BLUE, 0)),
            ImageFormat.WEBP,
            [BLUE, BACKGROUND],
            id="RGBA-webp",
        ),
    ],
)
def test_every_mode_becomes_8_bit_rgb_with_transparency_on_the_mean_colour(
    source: Image.Image, image_format: ImageFormat, expected: list[tuple[int, int, int]]
) -> None:
    params = {"lossless": True} if image_format is ImageFormat.WEBP else {}
    image = decode_image(encode(source, image_format, **params), MAX_PIXELS)

    assert image.mode == "RGB"
    assert [image.getpixel((0, 0)), image.getpixel((1, 0))] == expected


def test_cmyk_jpeg_becomes_rgb() -> None:
    data = encode(Image.new("CMYK", (16, 16), (0, 255, 255, 0)), ImageFormat.JPEG)

    image = decode_image(data, MAX_PIXELS)

    assert image.mode == "RGB"
    assert_close(image.getpixel((8, 8)), RED, tolerance=8)


# --- resize policy -------------------------------------------------------------------------------


def settings(resize: ResizePolicy, shorter_side: int = 512, max_side: int = 1024) -> ImageSettings:
    return ImageSettings(resize=resize, shorter_side=shorter_side, max_side=max_side)


NATIVE, SHORTER = ResizePolicy.NATIVE, ResizePolicy.SHORTER_SIDE


@pytest.mark.parametrize(
    ("policy", "size", "expected"),
    [
        pytest.param(NATIVE, (800, 600), (800, 600), id="native-keeps-size"),
        pytest.param(NATIVE, (4000, 3000), (1024, 768), id="native-capped"),
        pytest.param(NATIVE, (600, 4000), (154, 1024), id="native-portrait-capped"),
        pytest.param(SHORTER, (1000, 800), (640, 512), id="shorter-landscape"),
        pytest.param(SHORTER, (600, 900), (512, 768), id="shorter-portrait"),
        pytest.param(SHORTER, (100, 50), (1024, 512), id="shorter-upscales"),
        pytest.param(SHORTER, (3000, 1000), (1024, 341), id="shorter-then-capped"),
        pytest.param(NATIVE, (1, 1), (1, 1), id="native-tiny"),
        pytest.param(SHORTER, (1, 1), (512, 512), id="shorter-tiny"),
        pytest.param(NATIVE, (5000, 1), (1024, 1), id="native-sliver"),
        pytest.param(SHORTER, (1, 5000), (1, 1024), id="shorter-sliver"),
    ],
)
def test_resize_policy_and_longer_side_cap(
    policy: ResizePolicy, size: tuple[int, int], expected: tuple[int, int]
) -> None:
    assert model_input_size(*size, settings(policy)) == expected


def test_resize_returns_the_same_image_when_the_size_is_kept() -> None:
    image = marked(800, 600)
    assert resized_for_model(image, settings(NATIVE)) is image


def test_resize_keeps_colours_and_hits_the_target() -> None:
    resized = resized_for_model(Image.new("RGB", (1200, 900), RED), settings(SHORTER))

    assert resized.size == (683, 512)
    assert resized.getpixel((300, 200)) == RED


# --- model input ---------------------------------------------------------------------------------


def test_model_input_is_normalised_chw_float32() -> None:
    image = Image.new("RGB", (3, 2), (0, 0, 0))
    image.putpixel((1, 0), (255, 0, 128))

    planes = to_model_input(image)

    assert planes.shape == (3, 2, 3)
    assert planes.dtype == np.float32
    assert planes.flags.c_contiguous
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    for channel, value in enumerate((255, 0, 128)):
        assert planes[channel, 0, 1] == pytest.approx((value / 255 - mean[channel]) / std[channel])
        assert planes[channel, 1, 2] == pytest.approx(-mean[channel] / std[channel])


def test_model_input_refuses_non_rgb_images() -> None:
    with pytest.raises(ValueError, match="RGB"):
        to_model_input(Image.new("L", (2, 2)))


def test_preprocess_chains_decode_resize_and_normalise() -> None:
    data = encode(marked(1200, 900), ImageFormat.JPEG)

    planes = preprocess(data, settings(SHORTER))

    assert planes.shape == (3, 512, 683)
    assert planes.dtype == np.float32


@pytest.mark.parametrize(
    ("data", "pixels"),
    [
        (png_with_size(3000, 2000), 6_000_000),  # its pixel data is 8x8: only the header is read
        (jpeg_with_size(4000, 3000), 12_000_000),
        (webp_with_size(1000, 700), 700_000),
    ],
)
def test_declared_pixels_come_from_the_header_without_decoding(data: bytes, pixels: int) -> None:
    assert declared_pixels(data, 40_000_000) == pixels


def test_declared_pixels_refuse_what_decoding_would() -> None:
    with pytest.raises(ImageTooLarge):
        declared_pixels(png_with_size(7000, 7000), 40_000_000)
    with pytest.raises(UnsupportedImageType):
        declared_pixels(b"GIF89a" + bytes(32), 40_000_000)
