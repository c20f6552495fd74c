"""Read System One record lines back (docs/system-one-format.md).

``read_record`` checks the structure and the layout's types of one line and returns a
``SystemOneRecord`` whose ``to_event()`` is the System Two event the line was written from.
Most lines take the fast path (``fast``); the rest, and every line the fast path cannot
decide, the general reader here, which gives every error its precise message.
``iter_lines`` (``lines``) splits a binary file into raw lines, streaming.
"""

from __future__ import annotations

import re
from typing import Any

from ..events import UUID_RE
from ..field_types import INT_MAX
from ..invalid import InvalidEvent
from ..timestamps import check_timestamp
from .escaping import CONTROLS, FORBIDDEN_RAW_RE, NULL, unescape
from .fast import FAST
from .lines import CHUNK_SIZE, iter_lines
from .record import (
    HEADER_FIELDS,
    LAYOUTS,
    ReadLayout,
    SystemOneFormatError,
    SystemOneRecord,
    fail,
    make_record,
    read_specials,
    shown,
)

__all__ = ["CHUNK_SIZE", "SystemOneFormatError", "SystemOneRecord", "iter_lines", "read_record"]

_MISSING = object()

# The shape of every System One line: six header fields, then name=value fields, no raw control
# character anywhere.  Checked in one pass; when it fails, _diagnose says precisely what is wrong.
_TEXT = f"[^|={CONTROLS}]*+"
_STRUCTURE_RE = re.compile(f"{_TEXT}(?:\\|{_TEXT}){{{HEADER_FIELDS - 1}}}(?:\\|{_TEXT}={_TEXT})*+")


def _diagnose(line: str) -> SystemOneFormatError:
    bad = FORBIDDEN_RAW_RE.search(line)
    if bad is not None:
        return SystemOneFormatError(
            f"raw control or line-break character U+{ord(bad.group()):04X} at column {bad.start() + 1} "
            "(it must be escaped)"
        )
    parts = line.split("|")
    if len(parts) < HEADER_FIELDS:
        return SystemOneFormatError(
            f"a record starts with {HEADER_FIELDS} '|'-separated header fields, this line has only {len(parts)} fields"
        )
    record_type = parts[0][:20] if parts[0] in LAYOUTS else ""
    for i, part in enumerate(parts[:HEADER_FIELDS], 1):
        if "=" in part:
            return fail(record_type, f"header field {i} ({part[:40]!r}) holds a raw '='")
    for part in parts[HEADER_FIELDS:]:
        equals = part.count("=")
        if equals == 0:
            return fail(record_type, f"field {part[:60]!r} has no '=' (fields are name=value)")
        if equals > 1:
            return fail(record_type, f"field {part[:60]!r} has more than one raw '=' (a '=' in a value is \\e)")
    return fail(record_type, "malformed line")  # pragma: no cover - the cases above are exhaustive


def read_record(line: str | bytes) -> SystemOneRecord:
    """Parse one System One line (with or without its ``"\\n"``; one trailing ``"\\r"`` is ignored).

    Raises ``SystemOneFormatError`` for anything that ``write_record`` would not have written:
    unknown record type or layout version, bad header, unknown/duplicate/missing field, a null
    required field, a value not of its type, a bad escape, a raw control character.  Also takes
    UTF-8 ``bytes``.
    """
    if type(line) is not str:
        line = _decode(line)
    if line[-1:] == "\n":
        line = line[:-1]
    if line[-1:] == "\r":
        line = line[:-1]
    fast = FAST.get(line[: line.find("|")])
    if fast is not None:
        match = fast.upsert.fullmatch(line)
        if match is not None:
            record = fast.read_upsert(match, line)
            if record is not None:
                return record
        else:
            match = fast.delete.fullmatch(line)
            if match is not None:
                record = fast.read_delete(match, line)
                if record is not None:
                    return record
    return _read_general(line)


def _read_general(line: str) -> SystemOneRecord:
    """The full reader: any field order, extras, every check with its precise message."""
    if _STRUCTURE_RE.fullmatch(line) is None:
        raise _diagnose(line)
    flat = line.replace("=", "|").split("|")

    # The header.
    record_type = flat[0]
    layout = LAYOUTS.get(record_type)
    if layout is None:
        raise SystemOneFormatError(
            f"unknown record type {record_type[:20]!r}; the record types are {', '.join(sorted(LAYOUTS))}"
        )
    if flat[1] != layout.version_text:
        raise fail(record_type, f"layout version {flat[1][:20]!r}, but this reader knows version {layout.version_text}")
    operation = flat[2]
    if operation == "U":
        event_type = "upsert"
    elif operation == "D":
        event_type = "delete"
    else:
        raise fail(record_type, f"operation must be U (upsert) or D (delete), got {operation[:20]!r}")
    event_id = flat[3]
    if UUID_RE.fullmatch(event_id) is None:
        raise fail(record_type, f"eventId is not a UUID: {event_id[:40]!r}")
    text = flat[4]
    try:
        version = int(text)
    except ValueError:
        version = 0
    if str(version) != text or not 1 <= version <= INT_MAX:
        raise fail(record_type, f"version must be an integer from 1 to {INT_MAX} in canonical form, got {text[:40]!r}")
    occurred_at = flat[5]
    try:
        check_timestamp(occurred_at, "occurredAt")
    except InvalidEvent as e:
        raise fail(record_type, str(e)) from None

    # The fields: names at the even places after the header, values at the odd ones.
    names = flat[HEADER_FIELDS::2]
    values: dict[str, Any] = dict(zip(names, flat[HEADER_FIELDS + 1 :: 2], strict=True))
    if len(values) != len(names):
        seen: set[str] = set()
        duplicate = next(n for n in names if n in seen or seen.add(n))  # type: ignore[func-returns-value]
        raise fail(record_type, f"field {shown(duplicate)!r} appears twice")
    extras: dict[str, Any] = {}
    data_extras: dict[str, Any] = {}
    object_extras: dict[str, dict[str, Any]] = {}
    data_null = False
    adopted: list[str] = []
    unknown: list[str] = []
    if not layout.names.issuperset(values):
        data_null = read_specials(layout, event_type, values, extras, data_extras, object_extras, adopted, unknown)
    nulls: list[str] | None = None
    name = ""
    try:
        if "\\" in line or adopted:
            escaped = layout.escaped
            for name, text in values.items():
                if "\\" in text:
                    if text == NULL:
                        values[name] = None
                        if nulls is None:
                            nulls = []
                        nulls.append(name)
                    elif name not in escaped:
                        values[name] = unescape(text)
        for name, decode in layout.typed:
            field = values.get(name)
            if field is not None:
                values[name] = decode(field, name)
    except InvalidEvent as e:
        raise fail(record_type, f"field {e}") from None
    except ValueError as e:
        raise fail(record_type, f"field {name}: {e}") from None

    key_names = layout.key_names
    if event_type == "upsert":
        if not layout.required <= values.keys():
            missing = sorted(layout.required.difference(values))
            raise fail(record_type, f"required field {', '.join(missing)} is missing")
        if nulls is not None and not layout.required.isdisjoint(nulls):
            null = sorted(layout.required.intersection(nulls))
            raise fail(record_type, f"required field {', '.join(null)} is null")
        if layout.objects:
            _assemble_objects(layout, values, object_extras)
        if data_extras:
            values.update(data_extras)
        data = values
    else:
        if values.keys() != layout.key_set or data_extras or object_extras:
            missing = sorted(layout.key_set.difference(values))
            if missing:
                raise fail(record_type, f"key field {', '.join(missing)} is missing")
            fields = [n for n in values if n not in layout.key_set] + [f"+{n}" for n in data_extras]
            fields += [f"+{n}.*" for n in object_extras]
            raise fail(record_type, f"a delete carries only its key, but this one has {', '.join(fields)}")
        if nulls is not None:
            raise fail(record_type, f"key field {', '.join(sorted(nulls))} is null")
        data = None
    key = {name: values[name] for name in key_names}
    record = make_record(layout, event_type, event_id, version, occurred_at, key, data, extras, data_null)
    if unknown:
        record.__dict__["unknown_columns"] = True
    return record


def _decode(line: object) -> str:
    if not isinstance(line, bytes | bytearray | memoryview):
        raise TypeError(f"read_record needs a str (or UTF-8 bytes), got {type(line).__name__}")
    try:
        return bytes(line).decode("utf-8")
    except UnicodeDecodeError as e:
        raise SystemOneFormatError(f"line is not UTF-8: {e.reason} at byte {e.start}") from None


def _assemble_objects(layout: ReadLayout, values: dict[str, Any], object_extras: dict[str, dict[str, Any]]) -> None:
    """Turn the flattened ``obj.sub`` values back into nested dicts, in place."""
    record_type = layout.record_type
    for name, optional, subs, _known in layout.objects:
        marker = values.pop(name, _MISSING)
        obj: dict[str, Any] = {}
        for flat, sub, _sub_optional in subs:
            value = values.pop(flat, _MISSING)
            if value is not _MISSING:
                obj[sub] = value
        extra = object_extras.get(name)
        if extra:
            obj.update(extra)
        if marker is None:
            if obj:
                raise fail(record_type, f"object {name} is null but has members")
            if not optional:
                raise fail(record_type, f"required field {name} is null")
            values[name] = None
            continue
        if marker is _MISSING and not obj:
            if not optional:
                raise fail(record_type, f"required field {name} is missing")
            continue
        if marker is not _MISSING and obj:
            raise fail(record_type, f"object {name} is marked empty but has members")
        for flat, sub, sub_optional in subs:
            if not sub_optional and obj.get(sub) is None:
                raise fail(record_type, f"required field {flat} is {'null' if sub in obj else 'missing'}")
        values[name] = obj
