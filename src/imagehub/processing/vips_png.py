"""PNGs through libvips (pyvips, with the libvips binary its wheel bundles): every depth and
channel layout (gray, gray + alpha, RGB, RGBA, palettes expanded; 8 and 16 bits, kept).

Measured on a 4 MP photo (bench/processing.py): 5-6x faster than naive Pillow (our Pillow
path was 3.4x), at 1.01x naive's bytes (it was 1.09x). libvips' PNG writer uses
zlib-ng and, asked for it, libpng's adaptive filter choice per row (its default, no filter,
made files 1.8x larger); encoding is nearly all of a PNG job's time.

Same rules as the other paths: EXIF orientation applied and dropped, ICC profile kept on the
colour variants only, ITU-R 601 luma (alpha kept as alpha), ceil(w/2) x ceil(h/2) halves.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import pyvips
from PIL import Image

from imagehub.processing import thumbnails

# One job per core: the worker's processes are the parallelism. And no operation cache:
# it would keep decoded images alive between jobs.
pyvips.concurrency_set(1)
pyvips.cache_set_max(0)

# ITU-R BT.601 luma, as Pillow's convert("L") uses.
LUMA = [[0.299, 0.587, 0.114]]
ICC = "icc-profile-data"
ORIENTATION = 0x0112  # the EXIF tag


class TooManyPixels(ValueError):
    pass


@dataclass(frozen=True)
class PngVariants:
    rotated: bytes
    gray: bytes
    scaled: bytes
    # The thumbnail's source: the half-size pixels, or the whole image's when the half is
    # smaller than the thumbnail (None: no thumbnail asked for).
    thumbnail_source: np.ndarray | None
    icc: bytes | None


def variants(
    data: bytes, compress_level: int, max_pixels: int, thumbnail_side: int | None
) -> PngVariants:
    """The three encoded variants and the thumbnail's source. TooManyPixels before any
    pixel is decoded; pyvips.Error when the data does not decode."""
    header = pyvips.Image.new_from_buffer(data, "", access="random", fail_on="error")
    if header.width * header.height > max_pixels:
        raise TooManyPixels(f"{header.width}x{header.height} is over the pixel limit")
    # The orientation as Pillow reads it: it also takes the eXIf chunks that carry JPEG's
    # "Exif\0\0" prefix (written by some tools), where libvips sees none.
    oriented = header.copy()
    oriented.set_type(pyvips.GValue.gint_type, "orientation", _orientation(data))
    # Decoded once, into memory: rotating reads the image in another order than it is stored.
    image = oriented.autorot().copy_memory()
    icc = image.get(ICC) if image.get_typeof(ICC) else None
    has_colour = image.bands >= 3

    def png(variant: pyvips.Image, keep_icc: bool) -> bytes:
        return bytes(
            variant.pngsave_buffer(
                compression=compress_level,
                filter="all",  # adaptive, as libpng and Pillow choose
                bitdepth=16 if variant.format == "ushort" else 8,
                keep="icc" if keep_icc else "none",  # never EXIF: the variants are upright
            )
        )

    gray = _gray(image) if has_colour else image
    # A gray source's own profile is kept; a colour profile never goes on the gray variant.
    gray_bytes = png(gray, keep_icc=not has_colour)
    half = _half(image).copy_memory()  # encoded, and read again for the thumbnail
    source = None
    if thumbnail_side is not None:
        half_will_do = thumbnails.half_will_do((half.width, half.height), thumbnail_side)
        source = (half if half_will_do else image).numpy()
    return PngVariants(
        rotated=png(image.rot270(), keep_icc=True),  # rot270 is a quarter turn anticlockwise
        gray=gray_bytes,
        scaled=png(half, keep_icc=True),
        thumbnail_source=source,
        icc=icc,
    )


def _orientation(data: bytes) -> int:
    with Image.open(io.BytesIO(data), formats=["PNG"]) as image:  # the header only
        orientation = image.getexif().get(ORIENTATION, 1)
    return orientation if orientation in range(1, 9) else 1


def _gray(image: pyvips.Image) -> pyvips.Image:
    luma = (image[0:3].recomb(LUMA) + 0.5).cast(image.format)  # rounded, as Pillow rounds
    if image.bands == 4:
        luma = luma.bandjoin(image[3])
    return luma.copy(interpretation="grey16" if image.format == "ushort" else "b-w")


def _half(image: pyvips.Image) -> pyvips.Image:
    """A 2x2 box average; an odd last row or column averages with itself (as Pillow's
    reduce(2) averages the pixels there are), giving ceil(w/2) x ceil(h/2)."""
    even_width, even_height = image.width + image.width % 2, image.height + image.height % 2
    if (even_width, even_height) != (image.width, image.height):
        image = image.embed(0, 0, even_width, even_height, extend="copy")
    return image.shrink(2, 2)
