"""What the System One reader reads into, and what its two paths share.

``SystemOneRecord`` (the result) and ``SystemOneFormatError``; ``ReadLayout``, each record
type's fields as the reader needs them, with each field's decoder from ``field_types``; and the
reading of extras (``@`` envelope and ``+`` data members), which both the general reader
(``reader``) and the fast path (``fast``) use.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..events import ENVELOPE_FIELDS, check_json_value, reject_json_constant
from ..field_types import Decoder, field_type
from ..invalid import InvalidEvent
from ..streams import BY_RECORD_TYPE, StreamSpec
from .escaping import unescape

__all__ = ["HEADER_FIELDS", "LAYOUTS", "ReadLayout", "SystemOneFormatError", "SystemOneRecord", "make_record"]

HEADER_FIELDS = 6  # record type, layout version, operation, eventId, version, occurredAt


class SystemOneFormatError(ValueError):
    """A line that is not a System One record of a known layout; ``str(e)`` says what is wrong where."""


@dataclass(frozen=True)
class SystemOneRecord:
    """One System One record.

    ``key`` holds the key fields; ``data`` (``None`` for a delete) is the event's data exactly:
    key fields included, optional fields that were null as ``None``, absent ones absent, nested
    objects as dicts, unknown extra members (at any depth) included.  ``extras`` holds the unknown
    members of the envelope.  ``data_null`` tells a delete that said ``"data": null`` from one
    that had no ``data`` member at all.
    """

    stream: str
    record_type: str
    layout_version: int
    event_type: str
    event_id: str
    version: int
    occurred_at: str
    key: dict[str, Any]
    data: dict[str, Any] | None
    extras: dict[str, Any]
    data_null: bool = False

    def to_event(self) -> dict[str, Any]:
        """The System Two event this record was written from (a fresh dict; equal to the original)."""
        event = {
            "eventId": self.event_id,
            "stream": self.stream,
            "eventType": self.event_type,
            "occurredAt": self.occurred_at,
            "version": self.version,
            "key": dict(self.key),
        }
        if self.data is not None:
            event["data"] = _copy(self.data)
        elif self.data_null:
            event["data"] = None
        for name, value in self.extras.items():
            event[name] = _copy(value)
        return event


def _copy(value: object) -> object:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


_new = object.__new__


def make_record(
    layout: ReadLayout,
    event_type: str,
    event_id: str,
    version: int,
    occurred_at: str,
    key: dict[str, Any],
    data: dict[str, Any] | None,
    extras: dict[str, Any],
    data_null: bool,
) -> SystemOneRecord:
    # The same object SystemOneRecord(...) builds, without the generated __init__'s eleven
    # object.__setattr__ calls (a third of the time of a whole read_record).
    record = _new(SystemOneRecord)
    record.__dict__.update(
        stream=layout.stream,
        record_type=layout.record_type,
        layout_version=layout.layout_version,
        event_type=event_type,
        event_id=event_id,
        version=version,
        occurred_at=occurred_at,
        key=key,
        data=data,
        extras=extras,
        data_null=data_null,
    )
    return record


# --- the layouts ---------------------------------------------------------------------------------------------


def _object_marker(text: str, path: str) -> dict[str, Any]:
    # "obj=" marks an object without members; nothing else is allowed
    if text:
        raise ValueError("an object field's own value must be empty (or \\N for null)")
    return {}


class ReadLayout:
    """One record type's fields as the reader needs them.

    ``typed`` lists ``(flat name, decoder)`` for every field whose text is not simply its value
    (a plain string is left out); ``escaped`` names those whose decoder takes the text still
    escaped (lists); ``objects`` is ``(name, optional, ((flat, member, optional), ...), member
    names)`` per object field.
    """

    __slots__ = (
        "data_names",
        "escaped",
        "key_names",
        "key_set",
        "layout_version",
        "names",
        "objects",
        "record_type",
        "required",
        "stream",
        "typed",
        "version_text",
    )

    def __init__(self, spec: StreamSpec) -> None:
        self.stream = spec.name
        self.record_type = spec.record_type
        self.layout_version = spec.layout_version
        self.version_text = str(spec.layout_version)
        self.key_names = spec.key_names
        self.key_set = frozenset(spec.key_names)
        self.data_names = frozenset(f.name for f in spec.all_fields)
        typed: list[tuple[str, Decoder]] = []
        escaped: list[str] = []
        names: list[str] = []
        objects = []

        def add(flat: str, decode: Decoder | None, decode_escaped: bool = False) -> None:
            names.append(flat)
            if decode is not None:
                typed.append((flat, decode))
            if decode_escaped:
                escaped.append(flat)

        for f in spec.key:
            kind = field_type(f, key=True)
            add(f.name, kind.decode, kind.decode_escaped)
        for f in spec.fields:
            if f.type != "object":
                kind = field_type(f)
                add(f.name, kind.decode, kind.decode_escaped)
                continue
            add(f.name, _object_marker)
            subs = []
            for sub in f.fields:
                if sub.type == "object":
                    raise ValueError(f"{f.name}.{sub.name}: objects inside objects are not part of layout 1")
                flat = f"{f.name}.{sub.name}"
                kind = field_type(sub)
                add(flat, kind.decode, kind.decode_escaped)
                subs.append((flat, sub.name, sub.optional))
            objects.append((f.name, f.optional, tuple(subs), frozenset(s.name for s in f.fields)))
        self.names = frozenset(names)
        self.typed = tuple(typed)
        self.escaped = frozenset(escaped)
        self.objects: tuple[tuple[str, bool, tuple[tuple[str, str, bool], ...], frozenset[str]], ...] = tuple(objects)
        self.required = self.key_set | frozenset(f.name for f in spec.fields if not f.optional and f.type != "object")


LAYOUTS = {record_type: ReadLayout(spec) for record_type, spec in BY_RECORD_TYPE.items()}


def fail(record_type: str, message: str) -> SystemOneFormatError:
    """The error for a line of ``record_type`` (empty: not known yet)."""
    return SystemOneFormatError(f"{record_type} record: {message}" if record_type else message)


# --- extras --------------------------------------------------------------------------------------------------


def shown(name: str) -> str:
    try:
        return unescape(name)
    except ValueError:
        return name


def _read_json(text: str) -> object:
    try:
        return json.loads(unescape(text), parse_constant=reject_json_constant)
    except InvalidEvent:
        raise
    except (ValueError, RecursionError) as e:
        raise ValueError(f"is not JSON: {e}") from None


def read_specials(
    layout: ReadLayout,
    event_type: str,
    values: dict[str, Any],
    extras: dict[str, Any],
    data_extras: dict[str, Any],
    object_extras: dict[str, dict[str, Any]],
) -> bool:
    """Take the fields that are not layout fields out of ``values``: extras (``@`` envelope, ``+`` data)."""
    record_type = layout.record_type
    data_null = False
    for raw_name in [n for n in values if n not in layout.names]:
        text = values.pop(raw_name)
        label = shown(raw_name)
        try:
            if raw_name.startswith("@"):
                name = unescape(raw_name[1:])
                if name in ENVELOPE_FIELDS:
                    if name == "data" and event_type == "delete" and text == "null" and not data_null:
                        data_null = True  # the delete said "data": null
                        continue
                    raise ValueError(f"the envelope member {name!r} cannot be an extra")
                if name in extras:
                    raise ValueError("appears twice")
                value = _read_json(text)
                check_json_value(value, "value", 1)
                extras[name] = value
            elif raw_name.startswith("+"):
                if event_type != "upsert":
                    raise ValueError("a delete has no data, so no data extras")
                path = raw_name[1:]
                if "." in path:  # a raw dot: an extra member of an object field
                    obj_name, _, raw_sub = path.partition(".")
                    known = next((o[3] for o in layout.objects if o[0] == obj_name), None)
                    if known is None:
                        raise ValueError(f"{obj_name!r} is not an object field of {record_type}")
                    sub = unescape(raw_sub)
                    if sub in known:
                        raise ValueError("is a layout field, not an extra")
                    members = object_extras.setdefault(obj_name, {})
                    if sub in members:
                        raise ValueError("appears twice")
                    value = _read_json(text)
                    check_json_value(value, "value", 2)
                    members[sub] = value
                else:
                    name = unescape(path)
                    if name in layout.data_names:
                        raise ValueError("is a layout field, not an extra")
                    if name in data_extras:
                        raise ValueError("appears twice")
                    value = _read_json(text)
                    check_json_value(value, "value", 1)
                    data_extras[name] = value
            else:
                raise ValueError(f"is not a field of record type {record_type} (extras start with @ or +)")
        except ValueError as e:  # InvalidEvent included
            raise fail(record_type, f"field {label[:60]!r}: {e}") from None
    return data_null
