"""The image pipeline: decode once, derive the three variants cheaply, encode.

Rules (docs/contract.md, "Processing"): variants are made from the image as displayed
(EXIF orientation applied; they carry no orientation of their own), keep the original's
format and, on colour variants, its ICC profile; `rotated` is 90 degrees counter-clockwise;
`gray` is ITU-R 601 luma with alpha kept as alpha and 16-bit gray kept 16-bit; `scaled` is
ceil(w/2) x ceil(h/2).

Cheap operations instead of resampling: `transpose` is a lossless pixel shuffle and
`reduce(2)` a 2x2 box average (what a half-size resize should be anyway, and much faster
than bicubic).
"""

from __future__ import annotations

import io
import logging
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps

from imagehub.processing import fast_jpeg, thumbnails, vips_png
from imagehub.processing.models import Variant
from imagehub.processing.thumbnails import Thumbnail

log = logging.getLogger(__name__)

GRAY_MODES = {"L", "LA", "I;16", "I;16B", "I;16L", "I"}
ORIENTATION = 0x0112  # the EXIF tag


class CorruptImage(Exception):
    """The header parsed but the image data does not decode. Its message is shown to the
    image's owner, so it is ours; the decoder's own words go to the log."""


def _damaged(error: Exception) -> CorruptImage:
    log.info("an image does not decode: %r", error)
    return CorruptImage("the image data is damaged and does not decode")


@dataclass(frozen=True)
class EncodeOptions:
    jpeg_quality: int = 90
    png_compress_level: int = 3
    thumbnail_max_side: int | None = 400  # None: no thumbnail


@dataclass(frozen=True)
class Renditions:
    """What one original becomes: its three variants, and a thumbnail for pages."""

    variants: dict[Variant, bytes]
    thumbnail: Thumbnail | None


def _decode(data: bytes, image_format: str, max_pixels: int) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=[image_format])
            if image.width * image.height > max_pixels:  # again: the worker trusts no one
                raise CorruptImage(f"{image.width}x{image.height} is over the pixel limit")
            image.load()
    except CorruptImage:
        raise
    except Image.DecompressionBombError as error:
        raise CorruptImage("the image is over the pixel limit") from error
    except Exception as error:
        raise _damaged(error) from error
    return image


def _normalised(image: Image.Image) -> Image.Image:
    """Upright, in a mode every operation below supports, alpha kept."""
    # exif_transpose copies even an upright image; most photos need no turn, so ask first.
    needs_turn = image.getexif().get(ORIENTATION, 1) != 1
    upright = (ImageOps.exif_transpose(image) or image) if needs_turn else image
    if upright.mode == "P":
        has_alpha = "transparency" in upright.info
        return upright.convert("RGBA" if has_alpha else "RGB")
    if upright.mode == "PA":
        return upright.convert("RGBA")
    if upright.mode == "1":
        return upright.convert("L")
    return upright


def _gray(image: Image.Image) -> Image.Image:
    if image.mode in GRAY_MODES:
        return image  # already gray; 16-bit stays 16-bit (convert("L") would clip it)
    if image.mode == "RGBA":
        return image.convert("LA")  # ITU-R 601 luma, alpha kept
    if image.mode == "RGB":
        return image.convert("L")
    return image.convert("RGB").convert("L")  # CMYK, YCbCr...


def _half(image: Image.Image) -> Image.Image:
    if image.mode.startswith("I;16"):
        # reduce() has no 16-bit mode: average in 32-bit and come back.
        return image.convert("I").reduce(2).convert(image.mode)
    return image.reduce(2)


def _encode(
    image: Image.Image, image_format: str, icc: bytes | None, options: EncodeOptions
) -> bytes:
    out = io.BytesIO()
    # Always said explicitly: Pillow's PNG writer would otherwise reuse whatever profile and
    # EXIF the image's `info` carried over from the source (an RGB profile on a gray image).
    params: dict[str, object] = {"icc_profile": icc, "exif": b""}
    if image_format == "JPEG":
        params["quality"] = options.jpeg_quality
        image.save(out, "JPEG", **params)
    else:
        params["compress_level"] = options.png_compress_level
        image.save(out, "PNG", **params)
    return out.getvalue()


def make_variants(
    data: bytes, image_format: str, options: EncodeOptions, max_pixels: int
) -> Renditions:
    """The encoded rotated, gray and scaled variants of one original, and its thumbnail."""
    if image_format == "JPEG":
        fast = _fast_jpeg_variants(data, options, max_pixels)
        if fast is not None:
            return fast
    if image_format == "PNG":
        try:
            made = vips_png.variants(
                data, options.png_compress_level, max_pixels, options.thumbnail_max_side
            )
        except vips_png.TooManyPixels as error:
            raise CorruptImage(str(error)) from error
        except Exception as error:
            raise _damaged(error) from error
        thumbnail = None
        if made.thumbnail_source is not None and options.thumbnail_max_side is not None:
            thumbnail = thumbnails.from_pixels(
                made.thumbnail_source, made.icc, options.thumbnail_max_side
            )
        return Renditions(
            {Variant.ROTATED: made.rotated, Variant.GRAY: made.gray, Variant.SCALED: made.scaled},
            thumbnail,
        )
    return pillow_variants(data, image_format, options, max_pixels)


def _thumbnail_of_pixels(
    full: np.ndarray, half: np.ndarray, icc: bytes | None, options: EncodeOptions
) -> Thumbnail | None:
    if options.thumbnail_max_side is None:
        return None
    side = options.thumbnail_max_side
    source = half if thumbnails.half_will_do(half.shape, side) else full
    return thumbnails.from_pixels(source, icc, side)


def _fast_jpeg_variants(data: bytes, options: EncodeOptions, max_pixels: int) -> Renditions | None:
    try:
        header = fast_jpeg.Header(data)
    except Exception as error:
        raise _damaged(error) from error
    if not header.fast_path_applies:
        return None
    if header.width * header.height > max_pixels:
        raise CorruptImage(f"{header.width}x{header.height} is over the pixel limit")
    try:
        pixels = fast_jpeg.decode(data, header)
    except ValueError as error:
        raise _damaged(error) from error
    rotated, gray, scaled, half = fast_jpeg.variants(pixels, header, options.jpeg_quality)
    return Renditions(
        {Variant.ROTATED: rotated, Variant.GRAY: gray, Variant.SCALED: scaled},
        _thumbnail_of_pixels(pixels, half, header.icc, options),
    )


def pillow_variants(
    data: bytes, image_format: str, options: EncodeOptions, max_pixels: int
) -> Renditions:
    """Every format and mode Pillow reads: PNG, CMYK JPEG, 16-bit, palettes, alpha."""
    decoded = _decode(data, image_format, max_pixels)
    icc = decoded.info.get("icc_profile")
    # Never a colour profile on the gray variant; a gray source's own profile is kept.
    gray_icc = icc if decoded.mode in GRAY_MODES else None
    image = _normalised(decoded)
    del decoded  # one full-size copy alive at a time keeps the peak at the naive one's
    # Each variant is made, encoded and dropped in turn, for the same reason.
    rotated = _encode(image.transpose(Image.Transpose.ROTATE_90), image_format, icc, options)
    gray = _encode(_gray(image), image_format, gray_icc, options)
    half = _half(image)
    thumbnail = None
    if options.thumbnail_max_side is not None:
        side = options.thumbnail_max_side
        source = half if thumbnails.half_will_do(half.size, side) else image
        thumbnail = thumbnails.from_image(source, icc, side)
    del image
    return Renditions(
        {
            Variant.ROTATED: rotated,
            Variant.GRAY: gray,
            Variant.SCALED: _encode(half, image_format, icc, options),
        },
        thumbnail,
    )
