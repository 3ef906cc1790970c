"""16-bit colour PNGs (RGB, RGBA, gray with alpha), kept at 16 bits in every variant.

Pillow reads these as 8-bit images, so they take this path instead: libpng (through
OpenCV) decodes them to 16-bit arrays, numpy makes the variants, and a small writer encodes
them as 16-bit PNGs (OpenCV cannot write gray with alpha, nor carry a colour profile).
16-bit gray without alpha stays on Pillow's path, which keeps it whole.
"""

from __future__ import annotations

import io
import struct
import warnings
import zlib

import cv2
import numpy as np
from numpy.typing import NDArray
from PIL import Image

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# IHDR colour types: 2 RGB, 4 gray + alpha, 6 RGBA (0, gray alone, is Pillow's).
DEEP_COLOUR_TYPES = {2, 4, 6}
_COLOUR_TYPE_OF_CHANNELS = {1: 0, 2: 4, 3: 2, 4: 6}
ORIENTATION = 0x0112  # the EXIF tag
# ITU-R BT.601 luma, as Pillow's convert("L") uses.
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)

Pixels = NDArray[np.uint16]  # height x width x channels
BLOCK_ROWS = 512


def applies(data: bytes) -> bool:
    """A 16-bit PNG with colour or alpha, read from its header (IHDR comes first)."""
    if not data.startswith(PNG_SIGNATURE) or data[12:16] != b"IHDR" or len(data) < 29:
        return False
    bit_depth, colour_type = data[24], data[25]
    return bit_depth == 16 and colour_type in DEEP_COLOUR_TYPES


def variants(
    data: bytes, compress_level: int, max_pixels: int
) -> tuple[bytes, bytes, bytes, Pixels, Pixels, bytes | None]:
    """(rotated, gray, scaled), each a 16-bit PNG, then the upright and the half-size pixels
    and the colour profile (the thumbnail's sources); ValueError if the data does not
    decode."""
    icc, orientation, gray_source = _metadata(data, max_pixels)
    pixels = _upright(_decode(data, gray_source), orientation)
    colour_icc = icc
    gray_icc = icc if gray_source else None  # never a colour profile on the gray variant
    half = _half(pixels)
    return (
        encode(np.rot90(pixels), colour_icc, compress_level),
        encode(_gray(pixels, gray_source), gray_icc, compress_level),
        encode(half, colour_icc, compress_level),
        pixels,
        half,
        colour_icc,
    )


def _metadata(data: bytes, max_pixels: int) -> tuple[bytes | None, int, bool]:
    """(colour profile, EXIF orientation, whether the source is gray), from the header."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with Image.open(io.BytesIO(data), formats=["PNG"]) as image:
            if image.width * image.height > max_pixels:
                raise ValueError(f"{image.width}x{image.height} is over the pixel limit")
            return (
                image.info.get("icc_profile"),
                image.getexif().get(ORIENTATION, 1),
                data[25] == 4,
            )


def _decode(data: bytes, gray_source: bool) -> Pixels:
    decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if decoded is None or decoded.dtype != np.uint16 or decoded.ndim != 3:
        raise ValueError("the PNG data does not decode")
    if gray_source:  # libpng expands gray + alpha to BGRA with B = G = R
        return np.ascontiguousarray(decoded[:, :, [0, 3]])
    order = [2, 1, 0, 3] if decoded.shape[2] == 4 else [2, 1, 0]
    return np.ascontiguousarray(decoded[:, :, order])  # BGR(A) to RGB(A)


def _upright(pixels: Pixels, orientation: int) -> Pixels:
    """The image as displayed: the EXIF orientation applied (1 = as stored)."""
    turns = {3: 2, 6: 3, 8: 1}  # quarter turns counter-clockwise
    if orientation in (2, 4, 5, 7):
        pixels = pixels[:, ::-1]  # mirrored first, then turned like its unmirrored twin
        orientation = {2: 1, 4: 3, 5: 8, 7: 6}[orientation]
    return np.rot90(pixels, turns.get(orientation, 0))


def _gray(pixels: Pixels, gray_source: bool) -> Pixels:
    """ITU-R 601 luma at 16 bits, alpha kept as alpha."""
    if gray_source:
        return pixels
    luma = np.empty(pixels.shape[:2], np.uint16)
    for top in range(0, pixels.shape[0], BLOCK_ROWS):  # in blocks: floats of a block only
        block = pixels[top : top + BLOCK_ROWS, :, :3].astype(np.float32)
        luma[top : top + BLOCK_ROWS] = np.rint(block @ LUMA)
    if pixels.shape[2] == 4:
        return np.dstack([luma, pixels[:, :, 3]])
    return luma[:, :, np.newaxis]


def _half(pixels: Pixels) -> Pixels:
    """ceil(w/2) x ceil(h/2), each pixel the rounded mean of a 2x2 box (at an odd edge, of
    the pixels there are: the edge is repeated, as Pillow's reduce() averages)."""
    height, width, channels = pixels.shape
    padded = np.pad(pixels, ((0, height % 2), (0, width % 2), (0, 0)), mode="edge")
    boxes = padded.reshape(padded.shape[0] // 2, 2, padded.shape[1] // 2, 2, channels)
    sums: NDArray[np.uint32] = boxes.sum(axis=(1, 3), dtype=np.uint32)
    return ((sums + 2) // 4).astype(np.uint16)


def encode(pixels: Pixels, icc: bytes | None, compress_level: int) -> bytes:
    """A 16-bit PNG of 1 (gray), 2 (gray + alpha), 3 (RGB) or 4 (RGBA) channels, each row
    with the Sub filter (the difference from the pixel to its left compresses well)."""
    height, width, channels = pixels.shape
    rows = np.ascontiguousarray(pixels, dtype=">u2").view(np.uint8).reshape(height, -1)
    step = channels * 2  # bytes per pixel
    filtered = rows.copy()
    filtered[:, step:] -= rows[:, :-step]  # uint8 arithmetic wraps, as PNG's filters do
    lines = np.hstack([np.ones((height, 1), np.uint8), filtered])  # 1 = the Sub filter
    header = struct.pack(">IIBBBBB", width, height, 16, _COLOUR_TYPE_OF_CHANNELS[channels], 0, 0, 0)
    chunks = [_chunk(b"IHDR", header)]
    if icc:
        chunks.append(_chunk(b"iCCP", b"ICC profile\x00\x00" + zlib.compress(icc)))
    chunks.append(_chunk(b"IDAT", zlib.compress(lines.tobytes(), compress_level)))
    chunks.append(_chunk(b"IEND", b""))
    return PNG_SIGNATURE + b"".join(chunks)


def _chunk(kind: bytes, body: bytes) -> bytes:
    crc = zlib.crc32(kind + body)
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)
