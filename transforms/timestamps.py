"""Dates (``YYYY-MM-DD``) and RFC 3339 timestamps: the contract's rules, checked and parsed.

The ``date`` and ``timestamp`` field types (``field_types``) and the envelope's ``occurredAt``
(``events``) use these; so does the importer, to turn a checked timestamp into a datetime.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone

from .invalid import InvalidEvent, kind, short

__all__ = [
    "DATE_PATTERN",
    "TIMESTAMP_PATTERN",
    "check_date",
    "check_timestamp",
    "parse_timestamp",
    "to_datetime",
]

_DATE_RE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_TIMESTAMP_RE = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]+))?"
    r"(?:[Zz]|([+-])([0-9]{2}):([0-9]{2}))"
)
# Fast paths: these accept only what the full checks accept (ranges in the pattern; day <= 28
# is a day of every month; years 0000, 0001 and 9999 take the full path).
_DAY = r"(0[1-9]|[12][0-9]|3[01])"
_DATE_FAST_RE = re.compile(r"([0-9]{4})-(?:0[1-9]|1[0-2])-" + _DAY)
_TIMESTAMP_FAST_RE = re.compile(
    r"([0-9]{4})-(?:0[1-9]|1[0-2])-" + _DAY + r"[Tt ](?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]+)?"
    r"(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"
)
_EDGE_YEARS = frozenset({"0000", "0001", "9999"})

# The System One reader's fast path (one group each): only what is valid whatever the month
# and offset (years 1000-8999, days up to 28); the rest goes to the full checks.
DATE_PATTERN = r"([1-8][0-9]{3}-(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8]))"
TIMESTAMP_PATTERN = (
    r"([1-8][0-9]{3}-(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8])[Tt ](?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
    r"(?:\.[0-9]+)?(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9]))"
)


def check_date(value: object, path: str) -> None:
    """Raise ``InvalidEvent`` (naming ``path``) unless ``value`` is a ``YYYY-MM-DD`` calendar date string."""
    if type(value) is str:
        m = _DATE_FAST_RE.fullmatch(value)
        if m is not None and m.group(2) <= "28" and m.group(1) != "0000":
            return
    if not isinstance(value, str):
        raise InvalidEvent(f"must be a YYYY-MM-DD date string, got {kind(value)}", path)
    m = _DATE_RE.fullmatch(value)
    if m is None:
        raise InvalidEvent(f"must be a YYYY-MM-DD date, got {short(value)}", path)
    try:
        date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        raise InvalidEvent(f"is not a calendar date: {short(value)}", path) from None


_OFFSETS: dict[tuple[str, int, int], timezone] = {}


def _parse_timestamp(value: object, path: str) -> datetime:
    if not isinstance(value, str):
        raise InvalidEvent(f"must be an RFC 3339 timestamp string, got {kind(value)}", path)
    m = _TIMESTAMP_RE.fullmatch(value)
    if m is None:
        raise InvalidEvent(
            f"must be an RFC 3339 timestamp such as 2026-11-27T10:15:30.123Z (the offset is required), "
            f"got {short(value)}",
            path,
        )
    year, month, day, hour, minute, second, fraction, sign, off_h, off_m = m.groups()
    hour_i, minute_i, second_i = int(hour), int(minute), int(second)
    if hour_i > 23 or minute_i > 59 or second_i > 59:
        raise InvalidEvent(f"has a time of day out of range (hour 0-23, minute 0-59, second 0-59): {value!r}", path)
    if sign is None:
        tz = UTC
    else:
        oh, om = int(off_h), int(off_m)
        if oh > 23 or om > 59:
            raise InvalidEvent(f"has an offset out of range (hours 0-23, minutes 0-59): {value!r}", path)
        cached = _OFFSETS.get((sign, oh, om))
        if cached is None:
            delta = timedelta(hours=oh, minutes=om)
            cached = timezone(-delta if sign == "-" else delta) if delta else UTC
            _OFFSETS[(sign, oh, om)] = cached
        tz = cached
    micro = int(fraction[:6].ljust(6, "0")) if fraction else 0
    try:
        result = datetime(int(year), int(month), int(day), hour_i, minute_i, second_i, micro, tzinfo=tz)
    except ValueError:
        raise InvalidEvent(f"is not a calendar date: {short(value)}", path) from None
    if year in ("0001", "9999") and tz is not UTC:
        try:
            result.astimezone(UTC)
        except OverflowError:
            raise InvalidEvent(f"is outside the years 1-9999 in UTC: {value!r}", path) from None
    return result


def parse_timestamp(s: str) -> datetime:
    """An RFC 3339 timestamp as an aware datetime (the fraction truncated to microseconds).

    Raises ``InvalidEvent`` (a ``ValueError``) for anything else, including a missing offset,
    second 60 and an instant outside the years 1-9999 in UTC.
    """
    return _parse_timestamp(s, "timestamp")


def check_timestamp(value: object, path: str) -> None:
    """Raise ``InvalidEvent`` (naming ``path``) unless ``value`` is an RFC 3339 timestamp string."""
    if type(value) is str:
        m = _TIMESTAMP_FAST_RE.fullmatch(value)
        if m is not None and m.group(2) <= "28" and m.group(1) not in _EDGE_YEARS:
            return
    _parse_timestamp(value, path)


def to_datetime(value: str) -> datetime:
    """An RFC 3339 timestamp already checked, as an aware datetime (what the importer stores).

    ``fromisoformat`` takes the common shapes in C; the rest (lower-case ``t``/``z``, more
    than six fractional digits) go through ``parse_timestamp``.
    """
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return parse_timestamp(value)
    return parsed if parsed.tzinfo is not None else parse_timestamp(value)
