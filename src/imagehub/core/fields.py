"""Input and output field types shared by every domain's schemas and routes.

Input is parsed strictly and range-checked here, at the edge, so that nothing a client
sends can reach the database out of range (a 500) or be read leniently (`+5`, `1_0`,
full-width digits, `true` as an id): each such case is a 400 naming the field.
"""

from datetime import UTC, date, datetime, timedelta
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, Field

MAX_ID = 2**63 - 1  # ids fit a signed 64-bit column
# A client's clock may run a little ahead of ours; a timestamp further ahead is refused.
CLOCK_SKEW = timedelta(minutes=5)


def no_control_characters(value: str) -> str:
    # NUL and other control characters have no place in names and identifiers (and
    # PostgreSQL refuses NUL in text, which would otherwise surface as a 500).
    if any(ord(char) < 32 or ord(char) == 127 for char in value):
        raise ValueError("must not contain control characters")
    return value


PlainText = Annotated[str, AfterValidator(no_control_characters)]
Name = Annotated[PlainText, Field(max_length=100)]


def ascii_int(value: object) -> int:
    """A whole number as a client may write one: a JSON integer, or text of the digits 0-9
    only (no sign, spaces, underscores, or other scripts' digits). A JSON boolean or float
    is no whole number."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    # 20 digits hold any 64-bit value; longer text is refused before int() reads it.
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 20:
        return int(value)
    raise ValueError("must be a whole number written with the digits 0-9")


WholeNumber = Annotated[int, BeforeValidator(ascii_int)]
# Our ids and GitHub's: positive, 64-bit.
Id = Annotated[WholeNumber, Field(ge=1, le=MAX_ID)]


def as_utc(moment: datetime) -> datetime:
    """The moment in UTC (a naive one is taken as UTC); refused when that leaves years
    1-9999 (`0001-01-01T00:00:00+14:00` is still year 0 in UTC)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError as error:
        raise ValueError("is outside the years 1 to 9999 once in UTC") from error


def not_in_the_future(moment: datetime) -> datetime:
    if moment > datetime.now(UTC) + CLOCK_SKEW:
        raise ValueError("is in the future")
    return moment


# A datetime a client sends, in UTC; a `Past...` one may not be ahead of our clock.
InputDateTime = Annotated[datetime, AfterValidator(as_utc)]
PastDateTime = Annotated[InputDateTime, AfterValidator(not_in_the_future)]

# A datetime field written as `2026-11-23T12:00:00.123456Z` in JSON: pydantic-core writes a
# UTC time with `Z` itself (in Rust, much faster than a Python serializer per value).
UtcDateTime = Annotated[datetime, AfterValidator(as_utc)]


def days_before(day: date, days: int) -> date:
    """`day` minus `days`, refused (ValueError) when that falls before year 1."""
    try:
        return day - timedelta(days=days)
    except OverflowError as error:
        raise ValueError(f"{days} days before {day.isoformat()} is before year 1") from error
