"""Image decoding, upload validation and model preprocessing, shared by the gateway and the worker.

The gateway calls :func:`validate_upload` before it accepts an upload and the embedding worker calls
:func:`preprocess` later; both go through the same opener, so an upload the gateway accepted is one
the worker can decode, and a bad one is refused with a 4xx at upload instead of failing a job.

Images are opened with the Pillow plugin class of the sniffed format instead of ``Image.open``:

* the allow-list is :func:`sniff_format`, not whatever Pillow plugin happens to recognise the bytes
  (``Image.open`` would happily decode GIF, BMP, TIFF or PSD);
* ``Image.open`` applies Pillow's own decompression-bomb limit, a process-wide global that warns
  above one size and raises above twice that. GeoPin's limit is ``ImageSettings.max_pixels``,
  checked against the header before any pixel data is decoded, and the code changes no global
  state (``Image.MAX_IMAGE_PIXELS``, warning filters, the plugin registry), so it is thread-safe;
* HEIF needs no ``register_heif_opener`` call, which would also be process-wide.

Decoding is always complete (``ImageFile.LOAD_TRUNCATED_IMAGES`` stays off), so a truncated upload
is refused instead of being embedded with a grey lower half.
"""

from __future__ import annotations

import io
import logging
import struct
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from typing import IO, ClassVar, Final

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageFile, ImageOps, JpegImagePlugin, PngImagePlugin, WebPImagePlugin
from pillow_heif import HeifImageFile

from geopin.settings import ImageSettings, ResizePolicy

_log = logging.getLogger(__name__)


class ImageFormat(StrEnum):
    """The upload formats GeoPin accepts: what phones and cameras produce."""

    JPEG = "jpeg"
    PNG = "png"
    WEBP = "webp"
    HEIF = "heif"


# The Content-Types a photo may be sent as: one per format, and image/heic, the name phones
# give HEVC-coded HEIF (the only kind decoded here). The gateway, its OpenAPI document, the
# web page and the docs all take the list from here.
ACCEPTED_MEDIA_TYPES: Final = (*(f"image/{f.value}" for f in ImageFormat), "image/heic")


class ImageRejected(Exception):
    """An upload GeoPin will not embed; ``code`` (in geopin.errors' catalogue) is stable for
    clients, ``detail`` is for humans."""

    code: ClassVar[str]

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class UnsupportedImageType(ImageRejected):
    """Not one of :class:`ImageFormat` (the gateway answers 415)."""

    code: ClassVar[str] = "unsupported-image-type"


class UndecodableImage(ImageRejected):
    """Empty, corrupt or truncated data in an accepted format (the gateway answers 400)."""

    code: ClassVar[str] = "undecodable-image"


class ImageTooLarge(ImageRejected):
    """More pixels than ``max_pixels``: refused from the header, before decoding (400)."""

    code: ClassVar[str] = "image-too-many-pixels"


_PNG_SIGNATURE: Final = b"\x89PNG\r\n\x1a\n"
# ISO-BMFF brands: HEVC-coded HEIF, and the generic image/sequence brands that AVIF uses as well.
_HEVC_BRANDS: Final = frozenset({b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis"})
_GENERIC_BRANDS: Final = frozenset({b"mif1", b"msf1"})
_AVIF_BRANDS: Final = frozenset({b"avif", b"avis"})
_FTYP_SCAN_LIMIT: Final = 256  # bytes of compatible brands read; real ftyp boxes are a few dozen

_OPENERS: Final[dict[ImageFormat, Callable[[IO[bytes]], ImageFile.ImageFile]]] = {
    ImageFormat.JPEG: JpegImagePlugin.JpegImageFile,
    ImageFormat.PNG: PngImagePlugin.PngImageFile,
    ImageFormat.WEBP: WebPImagePlugin.WebPImageFile,
    ImageFormat.HEIF: HeifImageFile,
}

# What Pillow and pillow-heif raise on malformed input: Image.open reads the first four as "not
# this format"; decoders raise OSError (truncated, bad data), ValueError or EOFError (bad chunks).
_DECODE_ERRORS: Final = (
    SyntaxError,
    IndexError,
    TypeError,
    struct.error,
    OSError,
    ValueError,
    EOFError,
)

# Transparent pixels are composited onto the ImageNet mean colour: it normalises to about zero, the
# most neutral input the network can get, where white or black would invent a wall or a shadow.
_BACKGROUND: Final = (124, 116, 104)
_MEAN: Final = np.array([0.485, 0.456, 0.406], dtype=np.float32)
_STD: Final = np.array([0.229, 0.224, 0.225], dtype=np.float32)
# (x / 255 - mean) / std folded into one multiply-add per value.
_SCALE: Final = (1.0 / (255.0 * _STD)).astype(np.float32).reshape(3, 1, 1)
_OFFSET: Final = (-_MEAN / _STD).astype(np.float32).reshape(3, 1, 1)


def sniff_format(data: bytes) -> ImageFormat | None:
    """The format its magic bytes name, or ``None``: file names and MIME types are not trusted."""
    if data.startswith(b"\xff\xd8\xff"):
        return ImageFormat.JPEG
    if data.startswith(_PNG_SIGNATURE):
        return ImageFormat.PNG
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return ImageFormat.WEBP
    if data[4:8] == b"ftyp" and _is_hevc_heif(data):
        return ImageFormat.HEIF
    return None


def _is_hevc_heif(data: bytes) -> bool:
    """Whether an ``ftyp`` box announces HEIF that pillow-heif can decode (HEVC, not AV1).

    ``mif1``/``msf1`` only say "some HEIF image"; AVIF files use them too, with ``avif`` among the
    compatible brands, and are refused here (415) rather than failing in the decoder (400).
    """
    major = data[8:12]
    if major in _HEVC_BRANDS:
        return True
    box_end = min(int.from_bytes(data[:4], "big"), len(data), _FTYP_SCAN_LIMIT)
    compatible = {data[i : i + 4] for i in range(16, box_end - 3, 4)}
    return major in _GENERIC_BRANDS and not compatible & _AVIF_BRANDS


def _webp_canvas_size(data: bytes) -> tuple[int, int]:
    """The canvas size in a WebP header (VP8X, VP8L or VP8 chunk).

    Pillow's WebP plugin creates its decoder, and with it the canvas, while opening, so the pixel
    limit has to be checked from the header before the plugin sees the bytes.
    """
    chunk = data[12:16]
    if chunk == b"VP8X" and len(data) >= 30:
        width_minus_1 = int.from_bytes(data[24:27], "little")
        return width_minus_1 + 1, int.from_bytes(data[27:30], "little") + 1
    if chunk == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8 " and len(data) >= 30 and data[23:26] == b"\x9d\x01\x2a":
        width = int.from_bytes(data[26:28], "little") & 0x3FFF
        return width, int.from_bytes(data[28:30], "little") & 0x3FFF
    raise UndecodableImage("the WebP header does not state the image size")


def _check_size(size: tuple[int, int], max_pixels: int) -> None:
    width, height = size
    if width < 1 or height < 1:
        raise UndecodableImage(f"the image declares an empty {width}x{height} canvas")
    if width * height > max_pixels:
        raise ImageTooLarge(
            f"the image is {width}x{height} = {width * height} pixels, above the limit {max_pixels}"
        )


def _open(data: bytes, max_pixels: int) -> tuple[ImageFormat, ImageFile.ImageFile]:
    """Sniff, open and check the declared size: the header only, no pixel data decoded yet."""
    if not data:
        raise UndecodableImage("the upload is empty")
    image_format = sniff_format(data)
    if image_format is None:
        accepted = ", ".join(ACCEPTED_MEDIA_TYPES)
        raise UnsupportedImageType(f"the data is none of the accepted types: {accepted}")
    if image_format is ImageFormat.WEBP:
        _check_size(_webp_canvas_size(data), max_pixels)
    with _decode_errors(image_format):
        # The plugin keeps the stream for the decoding; the bytes are in memory already.
        image = _OPENERS[image_format](io.BytesIO(data))
        try:
            _check_size(image.size, max_pixels)
        except BaseException:
            image.close()
            raise
    return image_format, image


@contextmanager
def _decode_errors(image_format: ImageFormat) -> Iterator[None]:
    try:
        yield
    except Image.DecompressionBombError as exc:  # Pillow's limit, should it be below max_pixels
        raise ImageTooLarge(str(exc)) from exc
    except _DECODE_ERRORS as exc:
        raise UndecodableImage(f"the {image_format.name} data cannot be decoded: {exc}") from exc


def declared_pixels(data: bytes, max_pixels: int) -> int:
    """Width times height as the header states them, read without decoding any pixel data.

    Lets a worker reserve memory for a decode before it starts (geopin.model.budget). Raises
    a subclass of :class:`ImageRejected` as the decoding would.
    """
    _, image = _open(data, max_pixels)
    image.close()
    return image.width * image.height


def _load(data: bytes, max_pixels: int, *, reduced: bool) -> tuple[ImageFormat, Image.Image]:
    """:func:`_open`, then decode every byte of the pixel data.

    ``reduced`` lets a JPEG decode at 1/8 scale: the entropy-coded stream is still read to the end
    (so truncation and corruption are still caught) but the inverse DCT and the pixel buffer shrink
    64-fold. Only JPEG: pillow-heif's ``draft`` would decode an embedded thumbnail instead.
    """
    image_format, image = _open(data, max_pixels)
    with _decode_errors(image_format):
        try:
            if reduced and image_format is ImageFormat.JPEG:
                image.draft(None, (1, 1))
            image.load()
        except BaseException:
            image.close()  # free the pixel buffer now, not when the traceback is dropped
            raise
    return image_format, image


def validate_upload(data: bytes, max_pixels: int) -> ImageFormat:
    """Check that ``data`` decodes as :func:`decode_image` would, as cheaply as possible.

    Raises a subclass of :class:`ImageRejected`; returns the sniffed format.
    """
    image_format, image = _load(data, max_pixels, reduced=True)
    image.close()
    return image_format


def decode_image(data: bytes, max_pixels: int) -> Image.Image:
    """Decode an upload to an upright, 8-bit RGB image, as the network expects.

    The EXIF orientation is applied because phones store portrait photos sideways and flag them;
    the model was trained on upright street views. Raises a subclass of :class:`ImageRejected`.
    """
    return decode_with_exif(data, max_pixels)[0]


def decode_with_exif(data: bytes, max_pixels: int) -> tuple[Image.Image, Image.Exif]:
    """:func:`decode_image`, and the photo's EXIF block, read before the conversion drops it.

    Ingestion locates reference photos by their EXIF GPS tags. An unreadable block is returned
    empty, as :func:`_apply_orientation` ignores it: the pixels are still fine.
    """
    _, image = _load(data, max_pixels, reduced=False)
    try:
        exif = image.getexif()
    except _DECODE_ERRORS as exc:
        _log.info("unreadable EXIF ignored: %s", exc)
        exif = Image.Exif()
    _apply_orientation(image)
    return _to_rgb(image), exif


def _apply_orientation(image: Image.Image) -> None:
    """Rotate/flip ``image`` in place as its EXIF orientation says.

    An EXIF block Pillow cannot parse leaves the image as stored, as browsers do: the pixels are
    fine, and rejecting the photo here would fail a job whose upload the gateway (which does not
    read EXIF) already accepted.
    """
    try:
        ImageOps.exif_transpose(image, in_place=True)
    except _DECODE_ERRORS as exc:
        _log.info("unreadable EXIF, orientation ignored: %s", exc)


def _to_rgb(image: Image.Image) -> Image.Image:
    """Convert any mode the four formats produce to 8-bit RGB.

    Pillow's own ``convert("RGB")`` drops alpha, exposing whatever colour transparent pixels hold,
    and clips 16-bit grey at 255 instead of scaling it, so those two cases are handled here.
    """
    if image.has_transparency_data:
        background = Image.new("RGBA", image.size, (*_BACKGROUND, 255))
        # convert() copies even an RGBA image: skipping it saves a canvas at the memory peak.
        rgba = image if image.mode == "RGBA" else image.convert("RGBA")
        return Image.alpha_composite(background, rgba).convert("RGB")
    if image.mode == "I;16":
        grey = np.asarray(image, dtype=np.float32) * (255.0 / 65535.0)
        return Image.fromarray(np.rint(grey).astype(np.uint8)).convert("RGB")
    if image.mode != "RGB":
        return image.convert("RGB")
    return image


def model_input_size(width: int, height: int, settings: ImageSettings) -> tuple[int, int]:
    """The (width, height) the network sees for an image of this size, aspect ratio kept.

    ``shorter_side`` scales up as well as down, as CosPlace's own resize does; ``max_side`` then
    caps the longer side under both policies, because inference cost grows with the pixel count.
    """
    scale = 1.0
    if settings.resize is ResizePolicy.SHORTER_SIDE:
        scale = settings.shorter_side / min(width, height)
    scale = min(scale, settings.max_side / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def resized_for_model(image: Image.Image, settings: ImageSettings) -> Image.Image:
    """Resize by ``settings``' policy; returns ``image`` itself when the size does not change.

    BILINEAR, which Pillow applies with a support widened by the scale factor (so it antialiases
    when shrinking), is what CosPlace's ``transforms.Resize(antialias=True)`` does on PIL images;
    matching it keeps embeddings comparable with the published weights. LANCZOS would be sharper
    and twice as slow; ``reducing_gap`` would give up that match for a speed-up the resize (tens of
    milliseconds for a 12 MP photo, next to a ResNet-152 forward pass) does not need.
    """
    size = model_input_size(image.width, image.height, settings)
    if size == image.size:
        return image
    return image.resize(size, Image.Resampling.BILINEAR)


def to_model_input(image: Image.Image) -> npt.NDArray[np.float32]:
    """An RGB image as float32 [3, H, W]: scaled to [0, 1], normalised with ImageNet statistics."""
    if image.mode != "RGB":
        raise ValueError(f"expected an RGB image, got mode {image.mode}")
    planes = np.asarray(image).transpose(2, 0, 1).astype(np.float32, order="C")
    planes *= _SCALE
    planes += _OFFSET
    return planes


def preprocess(data: bytes, settings: ImageSettings) -> npt.NDArray[np.float32]:
    """Upload bytes to the network's input tensor (without the batch axis)."""
    image = decode_image(data, settings.max_pixels)
    return to_model_input(resized_for_model(image, settings))
