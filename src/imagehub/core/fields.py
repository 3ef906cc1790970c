"""Reusable input field types for request schemas."""

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, Field


def no_control_characters(value: str) -> str:
    # NUL and other control characters have no place in names and identifiers (and
    # PostgreSQL refuses NUL in text, which would otherwise surface as a 500).
    if any(ord(char) < 32 or ord(char) == 127 for char in value):
        raise ValueError("must not contain control characters")
    return value


PlainText = Annotated[str, AfterValidator(no_control_characters)]
Name = Annotated[PlainText, Field(max_length=100)]


def _as_utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


# A datetime field written as `2026-11-23T12:00:00.123456Z` in JSON: pydantic-core writes a
# UTC time with `Z` itself (in Rust, much faster than a Python serializer per value).
UtcDateTime = Annotated[datetime, AfterValidator(_as_utc)]
