"""Input checks shared by every entry point; each failure names the offending field."""

from __future__ import annotations

import hmac
import math
from datetime import date, datetime
from typing import TypeVar

from domain.errors import BadUserInput

MAX_ID = 2**31 - 1  # ids are PostgreSQL `integer` columns: a larger one cannot even be compared
# The years a client may name (filters, periods, cursors): far enough from Python's years 1 and
# 9999 that a time zone, a day or a month added stays inside them (year 1 at +14:00 is year 0
# in UTC: an OverflowError, answered INTERNAL_SERVER_ERROR before).
MIN_YEAR, MAX_YEAR = 1000, 9000
D = TypeVar("D", bound=date)


def digits(text: str) -> bool:
    """Only the ASCII digits 0-9: str.isdigit() also takes '²', which int() then refuses (a
    crafted token or expiry was a 500)."""
    return text.isascii() and text.isdigit()


def same_secret(given: str, expected: str) -> bool:
    """Constant-time equality of a signature a client sent and the expected one, whatever its
    characters: hmac.compare_digest refuses a str outside ASCII (a TypeError: a 500)."""
    return hmac.compare_digest(given.encode(), expected.encode())


def parse_id(value: object, field: str) -> int:
    """IDs are decimal integers; anything else is the client's mistake, not a 500."""
    text = str(value)
    if len(text) > 12:
        raise BadUserInput(field, f"`{field}` is not a valid id.")
    try:
        number = int(text)
    except (TypeError, ValueError):
        raise BadUserInput(field, f"`{field}` is not a valid id.") from None
    if number <= 0 or number > MAX_ID:
        raise BadUserInput(field, f"`{field}` is not a valid id.")
    return number


def parse_ids(values: list | None, field: str, *, limit: int = 100) -> list[int] | None:
    if values is None:
        return None
    if len(values) > limit:
        raise BadUserInput(field, f"`{field}` takes at most {limit} ids.")
    return [parse_id(v, field) for v in values]


def distinct(values: list | None, field: str, *, limit: int = 100) -> list | None:
    """A list input of choices (statuses): repeats dropped, and at most `limit` given."""
    if values is None:
        return None
    if len(values) > limit:
        raise BadUserInput(field, f"`{field}` takes at most {limit} values.")
    return list(dict.fromkeys(values))


def storable(text: str) -> bool:
    """Whether PostgreSQL (and SQLite) can take the text: no NUL character, and valid UTF-8
    (JSON's `\\ud800` escapes decode to an unpaired surrogate, which no encoder accepts)."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def text(
    value: str | None, field: str, *, min_len: int = 0, max_len: int, required: bool = True
) -> str | None:
    """Trimmed text within bounds; empty optional text becomes None."""
    if value is None or not value.strip():
        if required and min_len > 0:
            raise BadUserInput(field, f"`{field}` is required.")
        return None if not required else ""
    value = value.strip()
    if len(value) < min_len:
        raise BadUserInput(field, f"`{field}` must be at least {min_len} characters.")
    if len(value) > max_len:
        raise BadUserInput(field, f"`{field}` must be at most {max_len} characters.")
    return value


def lat_lng(lat: float, lng: float, field: str) -> tuple[float, float]:
    if not (math.isfinite(lat) and -90 <= lat <= 90):
        raise BadUserInput(field, f"`{field}.lat` must be between -90 and 90.")
    if not (math.isfinite(lng) and -180 <= lng <= 180):
        raise BadUserInput(field, f"`{field}.lng` must be between -180 and 180.")
    return lat, lng


def page_size(first: int | None, field: str = "first", *, maximum: int = 100) -> int:
    if first is None:
        return 20
    if first < 0 or first > maximum:
        raise BadUserInput(field, f"`{field}` must be between 0 and {maximum}.")
    return first


def bbox(south: float, west: float, north: float, east: float, field: str) -> tuple[float, ...]:
    lat_lng(south, west, field)
    lat_lng(north, east, field)
    if south > north:
        raise BadUserInput(field, f"`{field}.south` must not be north of `{field}.north`.")
    if west > east:
        raise BadUserInput(field, f"`{field}.west` must not be east of `{field}.east`.")
    return south, west, north, east


def in_calendar(value: D | None, field: str) -> D | None:
    """A date or an instant a client names, inside MIN_YEAR..MAX_YEAR. An instant carries its
    offset (the contract's DateTime): one without names no instant, which PostgreSQL's driver
    would read in the server's zone and SQLite would compare by its digits."""
    if isinstance(value, datetime) and value.utcoffset() is None:
        raise BadUserInput(field, f"`{field}` must carry an offset, e.g. 2026-01-31T00:00:00+07:00.")
    if value is not None and not MIN_YEAR <= value.year <= MAX_YEAR:
        raise BadUserInput(field, f"`{field}` must lie between the years {MIN_YEAR} and {MAX_YEAR}.")
    return value
