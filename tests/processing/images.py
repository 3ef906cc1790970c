"""Test images made on the fly, with known pixels."""

from __future__ import annotations

import io
import struct
import zlib
from typing import Any

from PIL import Image, ImageCms

RED, GREEN, BLUE, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)


def quadrants(width: int = 40, height: int = 30, mode: str = "RGB") -> Image.Image:
    """Top-left red, top-right green, bottom-left blue, bottom-right white."""
    image = Image.new("RGB", (width, height))
    half_w, half_h = width // 2, height // 2
    image.paste(RED, (0, 0, half_w, half_h))
    image.paste(GREEN, (half_w, 0, width, half_h))
    image.paste(BLUE, (0, half_h, half_w, height))
    image.paste(WHITE, (half_w, half_h, width, height))
    return image.convert(mode) if mode != "RGB" else image


def encode(image: Image.Image, image_format: str, **params: object) -> bytes:
    out = io.BytesIO()
    if image_format == "JPEG":
        params.setdefault("quality", 95)
    image.save(out, image_format, **params)
    return out.getvalue()


def jpeg(width: int = 40, height: int = 30, **params: object) -> bytes:
    return encode(quadrants(width, height), "JPEG", **params)


def png(width: int = 40, height: int = 30, mode: str = "RGB", **params: object) -> bytes:
    return encode(quadrants(width, height, mode), "PNG", **params)


def srgb_profile() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def with_orientation(image: Image.Image, orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(image, "JPEG", exif=exif.tobytes())


def png_chunk(kind: bytes, data: bytes) -> bytes:
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))


def png_bomb(width: int = 60000, height: int = 60000) -> bytes:
    """A valid PNG header announcing a huge image, with almost no data behind it."""
    chunk = png_chunk
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


def gif() -> bytes:
    return encode(quadrants(), "GIF")


def corrupt_jpeg() -> bytes:
    """A JPEG whose header parses but whose image data is garbage."""
    data = bytearray(jpeg(256, 256))
    start = data.find(b"\xff\xda")  # start of scan: everything after it is entropy-coded data
    for i in range(start + 20, len(data) - 2):
        data[i] = 0xFF if i % 7 == 0 else 0x00
    return bytes(data[: start + 200])


def sixteen_bit_png(
    pixels: Any, icc_profile: bytes | None = None, orientation: int | None = None
) -> bytes:
    """A 16-bit PNG of an RGB(A) uint16 array, written by libpng (OpenCV), with a colour
    profile and an EXIF orientation spliced in after the header when asked."""
    import cv2
    import numpy as np

    order = [2, 1, 0, 3] if pixels.shape[2] == 4 else [2, 1, 0]
    ok, encoded = cv2.imencode(".png", np.ascontiguousarray(pixels[:, :, order]))
    assert ok
    data = encoded.tobytes()
    extra = b""
    if icc_profile is not None:
        extra += png_chunk(b"iCCP", b"icc\x00\x00" + zlib.compress(icc_profile))
    if orientation is not None:
        exif = Image.Exif()
        exif[0x0112] = orientation
        extra += png_chunk(b"eXIf", exif.tobytes())
    end_of_header = 8 + 25  # signature, then IHDR's length, type, 13 bytes and CRC
    return data[:end_of_header] + extra + data[end_of_header:]
