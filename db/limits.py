"""What PostgreSQL (through asyncpg) can store, checked where input arrives, so that a value
it cannot take is a clear 4xx before any statement runs or any stream starts.

- integers: bigint (int64);
- moments: timestamptz converted to UTC (Python's datetime cannot go below year 1 or above
  9999 when converted, and asyncpg converts every aware datetime to UTC);
- text: no NUL character (PostgreSQL text cannot hold U+0000).
"""

from __future__ import annotations

from datetime import UTC, datetime

from forms.numbers import MAX_BIGINT, MAX_INTEGER  # noqa: F401  (one home: forms/numbers.py)

MIN_BIGINT = -(2**63)


class OutOfRange(ValueError):
    """The value cannot be stored; the message says why."""


def checked_bigint(value: int) -> int:
    if not MIN_BIGINT <= value <= MAX_BIGINT:
        raise OutOfRange(f"{value} is outside the 64-bit integer range.")
    return value


def utc_moment(value: datetime) -> datetime:
    """An aware moment in UTC (naive means UTC), or OutOfRange when it falls outside the
    years 1 to 9999 once in UTC (e.g. 0001-01-01T00:00:00+05:00)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:
        raise OutOfRange(f"{value.isoformat()} is outside the years 1 to 9999 in UTC.") from exc


def has_nul(text: str) -> bool:
    return "\x00" in text
