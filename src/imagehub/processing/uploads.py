"""Checks on uploaded files before anything is stored: names, types, sizes, pixel counts.

Everything here reads only file headers; no image is decoded, so a decompression bomb (a
small file that decodes to gigapixels) is refused at the cost of reading a few bytes.
"""

from __future__ import annotations

import hashlib
import unicodedata
import uuid
import warnings
from dataclasses import dataclass, field
from typing import BinaryIO

from PIL import Image

ALLOWED_EXTENSIONS = {"jpg": "JPEG", "jpeg": "JPEG", "png": "PNG"}
_SIGNATURES = {"JPEG": b"\xff\xd8\xff", "PNG": b"\x89PNG\r\n\x1a\n"}
MAX_NAME_CHARS = 200
# A storage key's last component (`stem_variant.ext`) within 255 bytes of UTF-8, the limit
# of a file name on common file systems; 32 of them are kept for `_variant.ext`.
MAX_KEY_STEM_BYTES = 255 - 32


@dataclass(frozen=True)
class Limits:
    max_files: int
    max_file_bytes: int
    max_pixels: int


@dataclass
class InspectedImage:
    """An upload that passed every check, with what its header says."""

    client_name: str
    stem: str
    extension: str
    image_format: str
    width: int
    height: int
    size_bytes: int
    file: BinaryIO


@dataclass(frozen=True)
class Refusal:
    name: str
    reason: str
    too_large: bool = False

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, "reason": self.reason}


def clean_name(client_name: str | None) -> tuple[str, str]:
    """(stem, extension) from a client's file name: only its last path component, NFC,
    without control characters; the extension lower-cased."""
    name = (client_name or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = unicodedata.normalize("NFC", name)
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip()
    stem, dot, extension = name.rpartition(".")
    if not dot:
        stem, extension = name, ""
    stem = stem.strip(" .")[:MAX_NAME_CHARS] or "image"
    return stem, extension.lower()


def inspect_upload(
    client_name: str | None, file: BinaryIO, size: int, limits: Limits
) -> InspectedImage | Refusal:
    shown = client_name or "(no name)"
    stem, extension = clean_name(client_name)
    expected = ALLOWED_EXTENSIONS.get(extension)
    if expected is None:
        return Refusal(shown, "only .jpg, .jpeg and .png files are accepted")
    if size == 0:
        return Refusal(shown, "the file is empty")
    if size > limits.max_file_bytes:
        return Refusal(shown, f"the file is larger than {limits.max_file_bytes} bytes", True)
    file.seek(0)
    head = file.read(16)
    actual = next((fmt for fmt, sig in _SIGNATURES.items() if head.startswith(sig)), None)
    if actual is None:
        return Refusal(shown, f"the content is not a {expected} image")
    if actual != expected:
        return Refusal(shown, f"the content is {actual}, not {expected} as .{extension} says")
    file.seek(0)
    try:
        with warnings.catch_warnings():
            # open() parses the header only. Our pixel limit is checked below; Pillow's own
            # warning is noise here, its error (beyond ~179 MP) a refusal like ours.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(file, formats=[expected]) as image:
                width, height = image.size
    except Image.DecompressionBombError:
        return Refusal(shown, f"the image has more than {limits.max_pixels} pixels")
    except Exception:
        return Refusal(shown, f"the {expected} header is damaged or truncated")
    if width < 1 or height < 1:
        return Refusal(shown, f"the {expected} header is damaged")
    if width * height > limits.max_pixels:
        return Refusal(
            shown, f"the image is {width}x{height}, more than {limits.max_pixels} pixels"
        )
    file.seek(0)
    return InspectedImage(shown, stem, extension, expected, width, height, size, file)


def key_stem(stem: str) -> str:
    """The stem as it goes into storage keys and file links: whole when it fits in
    MAX_KEY_STEM_BYTES of UTF-8 (most names do); otherwise cut on a character boundary and
    marked with a digest of the whole stem, so two long names never share a key. The name
    shown to people stays whole."""
    raw = stem.encode()
    if len(raw) <= MAX_KEY_STEM_BYTES:
        return stem
    digest = hashlib.sha256(raw).hexdigest()[:12]
    cut = raw[: MAX_KEY_STEM_BYTES - len(digest) - 1].decode(errors="ignore")
    return f"{cut}~{digest}"


def unique_names(images: list[InspectedImage]) -> list[str]:
    """Names within one task: a repeated name (in any letter case) becomes name-2, name-3."""
    taken: set[str] = set()
    names = []
    for image in images:
        stem, counter = image.stem, 1
        while f"{stem}.{image.extension}".casefold() in taken:
            counter += 1
            stem = f"{image.stem}-{counter}"
        image.stem = stem
        name = f"{stem}.{image.extension}"
        taken.add(name.casefold())
        names.append(name)
    return names


@dataclass
class UploadSlots:
    """Uploads being received or stored by this process, in all and per user. A slot is
    taken before the body is read, so a flood of slow uploads meets a 429, not a queue."""

    overall: int
    per_user: int
    _taken: dict[uuid.UUID, int] = field(default_factory=dict)

    def take(self, user_id: uuid.UUID) -> bool:
        if sum(self._taken.values()) >= self.overall:
            return False
        if self._taken.get(user_id, 0) >= self.per_user:
            return False
        self._taken[user_id] = self._taken.get(user_id, 0) + 1
        return True

    def give_back(self, user_id: uuid.UUID) -> None:
        left = self._taken.pop(user_id) - 1
        if left:
            self._taken[user_id] = left
