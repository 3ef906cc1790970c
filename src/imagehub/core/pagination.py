"""Opaque keyset cursors: the position after the last row of a page, base64 of JSON.

A cursor only positions a scan that the query still filters by owner or role, so it needs
no signature; it must only be well-formed, which `decode` checks strictly (400 otherwise).
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime
from typing import Any

from imagehub.core.errors import InvalidInput
from imagehub.core.fields import MAX_ID

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


class InvalidCursor(InvalidInput):
    name = "Invalid cursor"

    def __init__(self) -> None:
        super().__init__("The cursor is malformed or from another listing; start again without it")


def encode(kind: str, *values: Any) -> str:
    payload = [kind, *(v.isoformat() if isinstance(v, datetime) else v for v in values)]
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode(kind: str, cursor: str, types: tuple[type, ...]) -> list[Any]:
    """The values of a cursor of `kind`, converted to `types` (datetime from ISO text)."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        payload = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        if not isinstance(payload, list) or payload[:1] != [kind]:
            raise InvalidCursor()
        values = payload[1:]
        if len(values) != len(types):
            raise InvalidCursor()
        return [_convert(value, wanted) for value, wanted in zip(values, types, strict=True)]
    except (ValueError, TypeError, OverflowError, UnicodeError, binascii.Error) as error:
        raise InvalidCursor() from error


def _convert(value: Any, wanted: type) -> Any:
    """One decoded value, validated like any input: a cursor is text a client may forge."""
    if wanted is datetime:
        if not isinstance(value, str):
            raise TypeError("timestamp expected")
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is None:
            raise ValueError("timezone expected")
        return moment.astimezone(UTC)  # OverflowError past year 9999 once in UTC
    if wanted is int:
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_ID:
            raise TypeError("an id expected")
        return value
    return wanted(value)
