"""Reusable input field types for request schemas."""

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, Field, PlainSerializer


def no_control_characters(value: str) -> str:
    # NUL and other control characters have no place in names and identifiers (and
    # PostgreSQL refuses NUL in text, which would otherwise surface as a 500).
    if any(ord(char) < 32 or ord(char) == 127 for char in value):
        raise ValueError("must not contain control characters")
    return value


PlainText = Annotated[str, AfterValidator(no_control_characters)]
Name = Annotated[PlainText, Field(max_length=100)]


def iso_z(moment: datetime) -> str:
    """UTC, ISO 8601, with `Z` (what every timestamp of the API looks like)."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


# A datetime field written as `2026-11-23T12:00:00.123456Z` in JSON.
UtcDateTime = Annotated[datetime, PlainSerializer(iso_z, return_type=str, when_used="json")]
