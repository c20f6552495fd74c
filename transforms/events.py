"""Validation of System Two events against the input contract (``shared/contracts/system-two-events.md``).

Standard library only: the Firehose transform Lambda imports this module, and so do the
local import API and the importer.  Nothing here changes a value: ``validate_event`` returns
the dict it was given, or raises ``InvalidEvent`` with a reason that names the field path.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone

from .streams import (
    INT_MAX,
    INT_MIN,
    MAX_CODE_LENGTH,
    MAX_KEY_LENGTH,
    MONEY_DECIMAL_PLACES,
    MONEY_MAX_DIGITS,
    STREAM_NAMES,
    STREAMS,
    FieldSpec,
    StreamSpec,
)

__all__ = [
    "ENVELOPE_FIELDS",
    "MAX_EXTRA_DEPTH",
    "UUID_RE",
    "InvalidEvent",
    "check_json_value",
    "check_timestamp",
    "parse_event",
    "parse_timestamp",
    "reject_json_constant",
    "stream_of_delivery_stream",
    "validate_event",
    "value_checker",
]


class InvalidEvent(ValueError):
    """A body that is not a valid event of its stream; ``str(e)`` is the human-readable reason."""

    def __init__(self, reason: str, path: str = "") -> None:
        super().__init__(f"{path}: {reason}" if path else reason)
        self.path = path
        self.reason = reason


# The members of the envelope; anything else at that level is an extra and is carried.
ENVELOPE_FIELDS = frozenset({"eventId", "stream", "eventType", "occurredAt", "version", "key", "data"})
EVENT_TYPES = ("upsert", "delete")
# Unknown extra values nest at most this deep (a list or object is one level); deeper is rejected
# so that every stage (json, the System One reader) can carry it without hitting recursion limits.
MAX_EXTRA_DEPTH = 100

MONEY_INTEGER_DIGITS = MONEY_MAX_DIGITS - MONEY_DECIMAL_PLACES

UUID_RE = re.compile(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}")
_MONEY_RE = re.compile(r"-?([0-9]+)(?:\.[0-9]{1,%d})?" % MONEY_DECIMAL_PLACES)  # noqa: UP031
_DATE_RE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_TIMESTAMP_RE = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]+))?"
    r"(?:[Zz]|([+-])([0-9]{2}):([0-9]{2}))"
)
_SURROGATE_RE = re.compile("[\ud800-\udfff]")
# Fast paths: these accept only what the full checks accept (ranges in the pattern; day <= 28
# is a day of every month; years 0000, 0001 and 9999 take the full path).
_DAY = r"(0[1-9]|[12][0-9]|3[01])"
_DATE_FAST_RE = re.compile(r"([0-9]{4})-(?:0[1-9]|1[0-2])-" + _DAY)
_TIMESTAMP_FAST_RE = re.compile(
    r"([0-9]{4})-(?:0[1-9]|1[0-2])-" + _DAY + r"[Tt ](?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]+)?"
    r"(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"
)
_EDGE_YEARS = frozenset({"0000", "0001", "9999"})

Checker = Callable[[object, str], None]


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _kind(value: object) -> str:
    """The JSON kind of a value, for messages."""
    if value is None:
        return "null"
    if value is True or value is False:
        return "a boolean"
    if isinstance(value, str):
        return f"the string {_short(value)}"
    if isinstance(value, int | float):
        return f"the number {_short(value)}"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return f"a {type(value).__name__}"


def _check_text(value: str, path: str) -> None:
    if not value.isascii():
        m = _SURROGATE_RE.search(value)
        if m is not None:
            raise InvalidEvent(f"contains the lone surrogate U+{ord(m.group()):04X}, which is not Unicode text", path)


# --- scalar types --------------------------------------------------------------------------------------------


def _check_string(value: object, path: str) -> None:
    if not isinstance(value, str):
        raise InvalidEvent(f"must be a string, got {_kind(value)}", path)
    _check_text(value, path)


def _check_key_string(value: object, path: str) -> None:
    if not isinstance(value, str):
        raise InvalidEvent(f"must be a string, got {_kind(value)}", path)
    if not value:
        raise InvalidEvent("must not be empty (it is a key)", path)
    if len(value) > MAX_KEY_LENGTH:
        raise InvalidEvent(f"is {len(value)} characters long, more than the {MAX_KEY_LENGTH} a key may have", path)
    _check_text(value, path)


def _check_code(value: object, path: str) -> None:
    if not isinstance(value, str):
        raise InvalidEvent(f"must be an upper-case code string, got {_kind(value)}", path)
    if not value:
        raise InvalidEvent("must be an upper-case code, not empty", path)
    if len(value) > MAX_CODE_LENGTH:
        raise InvalidEvent(f"is {len(value)} characters long, more than the {MAX_CODE_LENGTH} a code may have", path)
    _check_text(value, path)
    if value != value.upper():
        raise InvalidEvent(f"must be an upper-case code, got {_short(value)}", path)


def _check_money(value: object, path: str) -> None:
    if not isinstance(value, str):
        raise InvalidEvent(f'must be a decimal string such as "12.50" (never a JSON number), got {_kind(value)}', path)
    m = _MONEY_RE.fullmatch(value)
    if m is None:
        raise InvalidEvent(
            f"must be a decimal string (optional minus, digits, up to {MONEY_DECIMAL_PLACES} decimal places), "
            f"got {_short(value)}",
            path,
        )
    digits = m.group(1)
    if len(digits) > MONEY_INTEGER_DIGITS and len(digits.lstrip("0")) > MONEY_INTEGER_DIGITS:
        raise InvalidEvent(f"has more than {MONEY_INTEGER_DIGITS} digits before the decimal point", path)


def _check_date(value: object, path: str) -> None:
    if type(value) is str:
        m = _DATE_FAST_RE.fullmatch(value)
        if m is not None and m.group(2) <= "28" and m.group(1) != "0000":
            return
    if not isinstance(value, str):
        raise InvalidEvent(f"must be a YYYY-MM-DD date string, got {_kind(value)}", path)
    m = _DATE_RE.fullmatch(value)
    if m is None:
        raise InvalidEvent(f"must be a YYYY-MM-DD date, got {_short(value)}", path)
    try:
        date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        raise InvalidEvent(f"is not a calendar date: {_short(value)}", path) from None


_OFFSETS: dict[tuple[str, int, int], timezone] = {}


def _parse_timestamp(value: object, path: str) -> datetime:
    if not isinstance(value, str):
        raise InvalidEvent(f"must be an RFC 3339 timestamp string, got {_kind(value)}", path)
    m = _TIMESTAMP_RE.fullmatch(value)
    if m is None:
        raise InvalidEvent(
            f"must be an RFC 3339 timestamp such as 2026-11-27T10:15:30.123Z (the offset is required), "
            f"got {_short(value)}",
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
        tz = _OFFSETS.get((sign, oh, om))
        if tz is None:
            delta = timedelta(hours=oh, minutes=om)
            tz = timezone(-delta if sign == "-" else delta) if delta else UTC
            _OFFSETS[(sign, oh, om)] = tz
    micro = int(fraction[:6].ljust(6, "0")) if fraction else 0
    try:
        result = datetime(int(year), int(month), int(day), hour_i, minute_i, second_i, micro, tzinfo=tz)
    except ValueError:
        raise InvalidEvent(f"is not a calendar date: {_short(value)}", path) from None
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


def _check_int(value: object, path: str) -> None:
    if type(value) is not int:
        raise InvalidEvent(f"must be an integer, got {_kind(value)}", path)
    if not INT_MIN <= value <= INT_MAX:
        raise InvalidEvent("is outside the 64-bit integer range", path)


def _check_bool(value: object, path: str) -> None:
    if value is not True and value is not False:
        raise InvalidEvent(f"must be true or false, got {_kind(value)}", path)


def _check_string_list(value: object, path: str) -> None:
    if not isinstance(value, list):
        raise InvalidEvent(f"must be an array of strings, got {_kind(value)}", path)
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise InvalidEvent(f"must be a string, got {_kind(item)}", f"{path}[{i}]")
        if not item.isascii():
            _check_text(item, f"{path}[{i}]")


def _enum_checker(spec: FieldSpec) -> Checker:
    allowed = frozenset(spec.values)
    listed = ", ".join(spec.values)

    def check(value: object, path: str) -> None:
        if not isinstance(value, str) or value not in allowed:
            raise InvalidEvent(f"must be one of {listed}; got {_kind(value)}", path)

    return check


def check_json_value(value: object, path: str, depth: int = 0) -> None:
    """Check an unknown extra value: plain JSON (finite numbers, text without lone surrogates), not too deep."""
    if isinstance(value, str):
        if not value.isascii():
            _check_text(value, path)
    elif value is None or type(value) is bool or type(value) is int:
        pass
    elif type(value) is float:
        if not math.isfinite(value):
            raise InvalidEvent("is a number out of range (not finite)", path)
    elif isinstance(value, list):
        if depth >= MAX_EXTRA_DEPTH:
            raise InvalidEvent(f"nests deeper than {MAX_EXTRA_DEPTH} levels", path)
        for i, item in enumerate(value):
            check_json_value(item, f"{path}[{i}]", depth + 1)
    elif isinstance(value, dict):
        if depth >= MAX_EXTRA_DEPTH:
            raise InvalidEvent(f"nests deeper than {MAX_EXTRA_DEPTH} levels", path)
        for name, item in value.items():
            _check_member_name(name, path)
            check_json_value(item, f"{path}.{name}", depth + 1)
    else:
        raise InvalidEvent(f"is not a JSON value: {_kind(value)}", path)


def _check_member_name(name: object, path: str) -> None:
    if not isinstance(name, str):
        raise InvalidEvent(f"has a member name that is not a string: {_short(name)}", path)
    if not name.isascii():
        _check_text(name, f"{path} (a member name)")


def _check_extras(obj: dict, known: frozenset[str], prefix: str) -> None:
    if known.issuperset(obj):
        return
    for name, value in obj.items():
        if name not in known:
            _check_member_name(name, prefix.rstrip(".") or "event")
            check_json_value(value, prefix + name, 1)


_FieldCheck = tuple[str, bool, Checker]


def _object_checker(spec: FieldSpec) -> Checker:
    subs: tuple[_FieldCheck, ...] = tuple((f.name, f.optional, value_checker(f)) for f in spec.fields)
    known = frozenset(f.name for f in spec.fields)

    def check(value: object, path: str) -> None:
        if not isinstance(value, dict):
            raise InvalidEvent(f"must be an object, got {_kind(value)}", path)
        _check_fields(value, subs, path + ".")
        _check_extras(value, known, path + ".")

    return check


_CHECKERS: dict[str, Checker] = {
    "string": _check_string,
    "code": _check_code,
    "money": _check_money,
    "decimal": _check_money,
    "date": _check_date,
    "timestamp": check_timestamp,
    "int": _check_int,
    "bool": _check_bool,
    "string_list": _check_string_list,
}


def value_checker(spec: FieldSpec, *, key: bool = False) -> Checker:
    """The function ``check(value, path)`` that raises ``InvalidEvent`` unless ``value`` fits ``spec``.

    ``key=True`` applies the key rules on top (a key string is non-empty and at most MAX_KEY_LENGTH long);
    so does a field that references another entity, since it holds that entity's key.
    ``None`` is not handled here: whether a field may be null is the caller's business.
    """
    if spec.type == "enum":
        return _enum_checker(spec)
    if spec.type == "object":
        return _object_checker(spec)
    if (key or spec.references is not None) and spec.type == "string":
        return _check_key_string
    return _CHECKERS[spec.type]


def _check_fields(obj: dict, fields: tuple[_FieldCheck, ...], prefix: str) -> None:
    for name, optional, check in fields:
        value = obj.get(name)
        if value is None:
            if not optional:
                if name in obj:
                    raise InvalidEvent("is required and must not be null", prefix + name)
                raise InvalidEvent("is missing", prefix + name)
        else:
            check(value, prefix + name)


class _StreamRules:
    __slots__ = ("data_fields", "key_checks", "key_names", "known_data", "name")

    def __init__(self, spec: StreamSpec) -> None:
        self.name = spec.name
        self.key_names = frozenset(spec.key_names)
        self.key_checks: tuple[tuple[str, Checker], ...] = tuple((f.name, value_checker(f, key=True)) for f in spec.key)
        self.data_fields: tuple[_FieldCheck, ...] = tuple((f.name, f.optional, value_checker(f)) for f in spec.fields)
        self.known_data = frozenset(f.name for f in spec.all_fields)


_RULES: dict[str, _StreamRules] = {name: _StreamRules(spec) for name, spec in STREAMS.items()}
_MISSING = object()


def validate_event(obj: dict, stream: str) -> dict:
    """Check that ``obj`` is a valid event of ``stream``; return it unchanged, or raise ``InvalidEvent``."""
    rules = _RULES.get(stream)
    if rules is None:
        raise InvalidEvent(f"unknown stream {_short(stream)}; the streams are {', '.join(STREAM_NAMES)}")
    if not isinstance(obj, dict):
        raise InvalidEvent(f"an event must be a JSON object, got {_kind(obj)}")

    value = obj.get("eventId", _MISSING)
    if value is _MISSING:
        raise InvalidEvent("is missing", "eventId")
    if not isinstance(value, str) or UUID_RE.fullmatch(value) is None:
        raise InvalidEvent(f"must be a UUID string, got {_kind(value)}", "eventId")

    value = obj.get("stream", _MISSING)
    if value is _MISSING:
        raise InvalidEvent("is missing", "stream")
    if not isinstance(value, str):
        raise InvalidEvent(f"must be a string, got {_kind(value)}", "stream")
    if value != stream:
        raise InvalidEvent(f"is {_short(value)}, but this is the {stream!r} stream", "stream")

    event_type = obj.get("eventType", _MISSING)
    if event_type is _MISSING:
        raise InvalidEvent("is missing", "eventType")
    if not isinstance(event_type, str) or event_type not in EVENT_TYPES:
        raise InvalidEvent(f'must be "upsert" or "delete", got {_kind(event_type)}', "eventType")

    value = obj.get("occurredAt", _MISSING)
    if value is _MISSING:
        raise InvalidEvent("is missing", "occurredAt")
    check_timestamp(value, "occurredAt")

    value = obj.get("version", _MISSING)
    if value is _MISSING:
        raise InvalidEvent("is missing", "version")
    if type(value) is not int:
        raise InvalidEvent(f"must be an integer >= 1, got {_kind(value)}", "version")
    if not 1 <= value <= INT_MAX:
        raise InvalidEvent(f"must be between 1 and {INT_MAX}, got {value}", "version")

    key = obj.get("key", _MISSING)
    if key is _MISSING:
        raise InvalidEvent("is missing", "key")
    if not isinstance(key, dict):
        raise InvalidEvent(f"must be an object, got {_kind(key)}", "key")
    if key.keys() != rules.key_names:
        missing = sorted(rules.key_names.difference(key))
        extra = sorted(str(k) for k in key if k not in rules.key_names)
        parts = []
        if missing:
            parts.append("lacks " + ", ".join(missing))
        if extra:
            parts.append("has unexpected " + ", ".join(_short(x) for x in extra))
        expected = ", ".join(f.name for f in STREAMS[stream].key)
        raise InvalidEvent(f"must have exactly the fields {expected}; it {' and '.join(parts)}", "key")
    for name, check in rules.key_checks:
        check(key[name], "key." + name)

    data = obj.get("data")
    if event_type == "upsert":
        if data is None:
            raise InvalidEvent("an upsert must carry data" + (" (it is null)" if "data" in obj else ""), "data")
        if not isinstance(data, dict):
            raise InvalidEvent(f"must be an object, got {_kind(data)}", "data")
        for name, _check in rules.key_checks:
            if name not in data:
                raise InvalidEvent("is missing (data must repeat the key)", "data." + name)
            value, key_value = data[name], key[name]
            if type(value) is not type(key_value) or value != key_value:
                raise InvalidEvent(f"is {_kind(value)} but key.{name} is {_kind(key_value)}", "data." + name)
        _check_fields(data, rules.data_fields, "data.")
        _check_extras(data, rules.known_data, "data.")
    elif data is not None:
        raise InvalidEvent(f"a delete must have no data (absent or null), got {_kind(data)}", "data")

    _check_extras(obj, ENVELOPE_FIELDS, "")
    return obj


def reject_json_constant(name: str) -> object:
    """``json.loads(parse_constant=...)``: NaN, Infinity and -Infinity are not JSON."""
    raise InvalidEvent(f"body is not JSON: {name} is not a JSON number")


def parse_event(body: bytes, stream: str) -> dict:
    """Decode a request body (strict UTF-8 JSON, one object) and validate it as an event of ``stream``."""
    try:
        text = bytes(body).decode("utf-8")
    except UnicodeDecodeError as e:
        raise InvalidEvent(f"body is not UTF-8: {e.reason} at byte {e.start}") from None
    except TypeError:
        raise InvalidEvent(f"body must be bytes, got {type(body).__name__}") from None
    try:
        obj = json.loads(text, parse_constant=reject_json_constant)
    except InvalidEvent:
        raise
    except json.JSONDecodeError as e:
        raise InvalidEvent(f"body is not JSON: {e.msg} at line {e.lineno} column {e.colno}") from None
    except (ValueError, RecursionError) as e:
        raise InvalidEvent(f"body is not acceptable JSON: {e}") from None
    if not isinstance(obj, dict):
        raise InvalidEvent(f"body must be a JSON object, got {_kind(obj)}")
    try:
        return validate_event(obj, stream)
    except RecursionError:
        raise InvalidEvent("body nests too deeply") from None


_STREAMS_LONGEST_FIRST = sorted(STREAM_NAMES, key=len, reverse=True)


def stream_of_delivery_stream(arn_or_name: str) -> str:
    """The stream a Firehose delivery stream carries: its name is ``{env}-{stream}`` (env non-empty).

    Accepts the delivery stream's ARN (``arn:aws:firehose:...:deliverystream/pre-prod-order-lines``)
    or its bare name; the longest stream name that fits wins (``x-invoice-lines`` is invoice-lines).
    """
    if not isinstance(arn_or_name, str):
        raise InvalidEvent(f"delivery stream must be a string, got {_kind(arn_or_name)}")
    name = arn_or_name.rpartition("/")[2] if arn_or_name.startswith("arn:") else arn_or_name
    for stream in _STREAMS_LONGEST_FIRST:
        if len(name) > len(stream) + 1 and name.endswith("-" + stream):
            return stream
    raise InvalidEvent(f"delivery stream {_short(name)} is not named {{env}}-{{stream}} for a known stream")
