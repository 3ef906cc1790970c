"""The small rendition of every upload that pages show in place of the full image.

Longest side `max_side` pixels (never enlarged), 8 bits per channel: JPEG when the image is
opaque, WebP when it has alpha (kept). Made from the half-size pixels each pipeline already
holds, so it costs a resize of a quarter of the image and a tiny encode, not a decode.
It is not one of the four files of an upload: no `image_task` row, not in the zip.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import cv2
import numpy as np
import simplejpeg
from PIL import Image

from imagehub.processing.fast_jpeg import with_icc

QUALITY = 80


@dataclass(frozen=True)
class Thumbnail:
    data: bytes
    extension: str  # "jpg" or "webp"


def half_will_do(half_size: tuple[int, ...], max_side: int) -> bool:
    """Whether the half-size pixels are big enough to make the thumbnail from; a smaller
    image's thumbnail is made from its own pixels (`half_size`: any order of the sides)."""
    return max(half_size[:2]) >= max_side


def from_pixels(pixels: np.ndarray, icc: bytes | None, max_side: int) -> Thumbnail:
    """From an upright height x width (x 1-4 channels: gray, gray + alpha, RGB, RGBA) array
    of 8 or 16 bits."""
    if pixels.ndim == 2:
        pixels = pixels[:, :, np.newaxis]
    if pixels.dtype == np.uint16:
        pixels = (pixels >> 8).astype(np.uint8)
    height, width = pixels.shape[:2]
    scale = min(1.0, max_side / max(height, width))
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    # Area averaging where it matters (a big reduction would alias otherwise); bilinear is
    # as good below 2x and seven times cheaper at 1 MP.
    interpolation = cv2.INTER_AREA if scale < 0.5 else cv2.INTER_LINEAR
    small = pixels if scale == 1.0 else cv2.resize(pixels, size, interpolation=interpolation)
    if small.ndim == 2:  # cv2 drops a single channel's axis
        small = small[:, :, np.newaxis]
    channels = small.shape[2]
    if channels in (2, 4):
        rgba = (
            small
            if channels == 4
            else np.dstack([small[:, :, :1].repeat(3, axis=2), small[:, :, 1:]])
        )
        out = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(rgba), "RGBA").save(
            out, "WEBP", quality=QUALITY, method=4, icc_profile=icc or b""
        )
        return Thumbnail(out.getvalue(), "webp")
    colourspace = "GRAY" if channels == 1 else "RGB"
    data = simplejpeg.encode_jpeg(np.ascontiguousarray(small), QUALITY, colourspace, "420")
    return Thumbnail(with_icc(data, icc), "jpg")


def from_image(image: Image.Image, icc: bytes | None, max_side: int) -> Thumbnail:
    """From a Pillow image in any mode the pipeline holds (16-bit gray, CMYK, palettes made
    RGB(A) already...)."""
    if image.mode in ("L", "RGB", "RGBA", "LA", "I;16", "I;16L", "I;16B"):
        pixels: np.ndarray = np.asarray(image)
    elif image.mode == "I":  # 32-bit integer gray from a 16-bit source
        pixels = np.clip(np.asarray(image), 0, 65535).astype(np.uint16)
    else:  # CMYK, YCbCr...: what a browser shows is RGB
        pixels = np.asarray(image.convert("RGB"))
        icc = None  # a CMYK profile does not describe RGB pixels
    if pixels.dtype.byteorder == ">":
        pixels = pixels.astype(np.uint16)
    return from_pixels(pixels, icc, max_side)
