"""Validation of System Two events against the input contract (``shared/contracts/system-two-events.md``).

The envelope, the layout of each stream's key and data, and unknown extras are checked here;
each value's own rules are its field type's (``field_types``).  Standard library only: the
Firehose transform Lambda imports this module, and so do the local import API and the
importer.  Nothing here changes a value: ``validate_event`` returns the dict it was given, or
raises ``InvalidEvent`` with a reason that names the field path.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from . import json_objects
from .field_types import INT_MAX, Checker, check_text, field_type
from .invalid import InvalidEvent, kind, short
from .json_objects import reject_json_constant
from .streams import STREAM_NAMES, STREAMS, FieldSpec, StreamSpec
from .timestamps import check_timestamp, parse_timestamp

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

# The members of the envelope; anything else at that level is an extra and is carried.
ENVELOPE_FIELDS = frozenset({"eventId", "stream", "eventType", "occurredAt", "version", "key", "data"})
EVENT_TYPES = ("upsert", "delete")
# Unknown extra values nest at most this deep (a list or object is one level); deeper is rejected
# so that every stage (json, the System One reader) can carry it without hitting recursion limits.
MAX_EXTRA_DEPTH = 100

UUID_RE = re.compile(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}")


def check_json_value(value: object, path: str, depth: int = 0) -> None:
    """Check an unknown extra value: plain JSON (finite numbers, text without lone surrogates), not too deep."""
    if isinstance(value, str):
        if not value.isascii():
            check_text(value, path)
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
        raise InvalidEvent(f"is not a JSON value: {kind(value)}", path)


def _check_member_name(name: object, path: str) -> None:
    if not isinstance(name, str):
        raise InvalidEvent(f"has a member name that is not a string: {short(name)}", path)
    if not name.isascii():
        check_text(name, f"{path} (a member name)")


def _check_extras(obj: dict[str, Any], known: frozenset[str], prefix: str) -> None:
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
            raise InvalidEvent(f"must be an object, got {kind(value)}", path)
        _check_fields(value, subs, path + ".")
        _check_extras(value, known, path + ".")

    return check


def value_checker(spec: FieldSpec, *, key: bool = False) -> Checker:
    """The function ``check(value, path)`` that raises ``InvalidEvent`` unless ``value`` fits ``spec``.

    ``key=True`` applies the key rules on top (a key string is non-empty and at most MAX_KEY_LENGTH long);
    so does a field that references another entity, since it holds that entity's key.
    ``None`` is not handled here: whether a field may be null is the caller's business.
    """
    if spec.type == "object":
        return _object_checker(spec)
    return field_type(spec, key=key).check


def _check_fields(obj: dict[str, Any], fields: tuple[_FieldCheck, ...], prefix: str) -> None:
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


def validate_event(obj: dict[str, Any], stream: str) -> dict[str, Any]:
    """Check that ``obj`` is a valid event of ``stream``; return it unchanged, or raise ``InvalidEvent``."""
    rules = _RULES.get(stream)
    if rules is None:
        raise InvalidEvent(f"unknown stream {short(stream)}; the streams are {', '.join(STREAM_NAMES)}")
    if not isinstance(obj, dict):
        raise InvalidEvent(f"an event must be a JSON object, got {kind(obj)}")

    value = obj.get("eventId", _MISSING)
    if value is _MISSING:
        raise InvalidEvent("is missing", "eventId")
    if not isinstance(value, str) or UUID_RE.fullmatch(value) is None:
        raise InvalidEvent(f"must be a UUID string, got {kind(value)}", "eventId")

    value = obj.get("stream", _MISSING)
    if value is _MISSING:
        raise InvalidEvent("is missing", "stream")
    if not isinstance(value, str):
        raise InvalidEvent(f"must be a string, got {kind(value)}", "stream")
    if value != stream:
        raise InvalidEvent(f"is {short(value)}, but this is the {stream!r} stream", "stream")

    event_type = obj.get("eventType", _MISSING)
    if event_type is _MISSING:
        raise InvalidEvent("is missing", "eventType")
    if not isinstance(event_type, str) or event_type not in EVENT_TYPES:
        raise InvalidEvent(f'must be "upsert" or "delete", got {kind(event_type)}', "eventType")

    value = obj.get("occurredAt", _MISSING)
    if value is _MISSING:
        raise InvalidEvent("is missing", "occurredAt")
    check_timestamp(value, "occurredAt")

    value = obj.get("version", _MISSING)
    if value is _MISSING:
        raise InvalidEvent("is missing", "version")
    if type(value) is not int:
        raise InvalidEvent(f"must be an integer >= 1, got {kind(value)}", "version")
    if not 1 <= value <= INT_MAX:
        raise InvalidEvent(f"must be between 1 and {INT_MAX}, got {value}", "version")

    key = obj.get("key", _MISSING)
    if key is _MISSING:
        raise InvalidEvent("is missing", "key")
    if not isinstance(key, dict):
        raise InvalidEvent(f"must be an object, got {kind(key)}", "key")
    if key.keys() != rules.key_names:
        missing = sorted(rules.key_names.difference(key))
        extra = sorted(str(k) for k in key if k not in rules.key_names)
        parts = []
        if missing:
            parts.append("lacks " + ", ".join(missing))
        if extra:
            parts.append("has unexpected " + ", ".join(short(x) for x in extra))
        expected = ", ".join(f.name for f in STREAMS[stream].key)
        raise InvalidEvent(f"must have exactly the fields {expected}; it {' and '.join(parts)}", "key")
    for name, check in rules.key_checks:
        check(key[name], "key." + name)

    data = obj.get("data")
    if event_type == "upsert":
        if data is None:
            raise InvalidEvent("an upsert must carry data" + (" (it is null)" if "data" in obj else ""), "data")
        if not isinstance(data, dict):
            raise InvalidEvent(f"must be an object, got {kind(data)}", "data")
        for name, _check in rules.key_checks:
            if name not in data:
                raise InvalidEvent("is missing (data must repeat the key)", "data." + name)
            value, key_value = data[name], key[name]
            if type(value) is not type(key_value) or value != key_value:
                raise InvalidEvent(f"is {kind(value)} but key.{name} is {kind(key_value)}", "data." + name)
        _check_fields(data, rules.data_fields, "data.")
        _check_extras(data, rules.known_data, "data.")
    elif data is not None:
        raise InvalidEvent(f"a delete must have no data (absent or null), got {kind(data)}", "data")

    _check_extras(obj, ENVELOPE_FIELDS, "")
    return obj


def parse_event(body: bytes, stream: str) -> dict[str, Any]:
    """Decode a request body (strict UTF-8 JSON, one object) and validate it as an event of ``stream``."""
    try:
        text = bytes(body).decode("utf-8")
    except UnicodeDecodeError as e:
        raise InvalidEvent(f"body is not UTF-8: {e.reason} at byte {e.start}") from None
    except TypeError:
        raise InvalidEvent(f"body must be bytes, got {type(body).__name__}") from None
    try:
        obj = json_objects.loads(text)
    except InvalidEvent:
        raise
    except json.JSONDecodeError as e:
        raise InvalidEvent(f"body is not JSON: {e.msg} at line {e.lineno} column {e.colno}") from None
    except (ValueError, RecursionError) as e:
        raise InvalidEvent(f"body is not acceptable JSON: {e}") from None
    if not isinstance(obj, dict):
        raise InvalidEvent(f"body must be a JSON object, got {kind(obj)}")
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
        raise InvalidEvent(f"delivery stream must be a string, got {kind(arn_or_name)}")
    name = arn_or_name.rpartition("/")[2] if arn_or_name.startswith("arn:") else arn_or_name
    for stream in _STREAMS_LONGEST_FIRST:
        if len(name) > len(stream) + 1 and name.endswith("-" + stream):
            return stream
    raise InvalidEvent(f"delivery stream {short(name)} is not named {{env}}-{{stream}} for a known stream")
