"""What the System One reader reads into, and what its two paths share.

``SystemOneRecord`` (the result) and ``SystemOneFormatError``; ``ReadLayout``, each record
type's fields as the reader needs them, with each field's decoder from ``field_types``; and the
reading of extras (``@`` envelope and ``+`` data members), which both the general reader
(``reader``) and the fast path (``fast``) use.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .. import json_objects
from ..events import ENVELOPE_FIELDS, check_json_value
from ..field_types import Decoder, field_type
from ..invalid import InvalidEvent
from ..streams import BY_RECORD_TYPE, StreamSpec
from .escaping import NULL, unescape

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
    # The line had plain fields of a layout newer than this reader's, kept in ``data`` as extras
    # (set by the general reader only; the class default serves every other record for free). How
    # the line was written, not what it says: records that say the same are equal either way.
    unknown_columns: bool = field(default=False, compare=False)

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
        "writers",
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
        # A layout field's check and encoder by flat name: an extra written before the field was
        # adopted (``+name=json``) is read as the field's own text (``read_specials``).
        writers: dict[str, tuple[Callable[[object, str], None], Callable[[object], str]]] = {}

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
                writers[f.name] = (kind.check, kind.encode)
                continue
            add(f.name, _object_marker)
            subs = []
            for sub in f.fields:
                if sub.type == "object":
                    raise ValueError(f"{f.name}.{sub.name}: objects inside objects are not part of layout 1")
                flat = f"{f.name}.{sub.name}"
                kind = field_type(sub)
                add(flat, kind.decode, kind.decode_escaped)
                writers[flat] = (kind.check, kind.encode)
                subs.append((flat, sub.name, sub.optional))
            objects.append((f.name, f.optional, tuple(subs), frozenset(s.name for s in f.fields)))
        self.names = frozenset(names)
        self.writers = writers
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
        return json_objects.loads(unescape(text))
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
    adopted: list[str] | None = None,
    unknown: list[str] | None = None,
) -> bool:
    """Take the fields that are not layout fields out of ``values``: extras (``@`` envelope, ``+`` data).

    Across a change of the layout, both ways: an extra that has since become a layout field (a line
    written before the field was adopted) is put back into ``values`` as that field's text, checked
    by its type, and named in ``adopted``; a plain field the layout does not know (a line written
    after a field was added, read by a reader that predates it) is kept as a data extra, its text
    as a string (members of an object under the object's name), and named in ``unknown``.
    """
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
                        _adopt(layout, f"{obj_name}.{sub}", _read_json(text), values, adopted)
                        continue
                    members = object_extras.setdefault(obj_name, {})
                    if sub in members:
                        raise ValueError("appears twice")
                    value = _read_json(text)
                    check_json_value(value, "value", 2)
                    members[sub] = value
                else:
                    name = unescape(path)
                    if name in layout.key_set:
                        raise ValueError("is a key field, not an extra")
                    if name in layout.data_names:
                        _adopt_field(layout, name, _read_json(text), values, object_extras, adopted)
                        continue
                    if name in data_extras:
                        raise ValueError("appears twice")
                    value = _read_json(text)
                    check_json_value(value, "value", 1)
                    data_extras[name] = value
            else:
                if event_type != "upsert":
                    raise ValueError("a delete has no data")
                _unknown_column(layout, raw_name, text, data_extras, object_extras)
                if unknown is not None:
                    unknown.append(raw_name)
        except ValueError as e:  # InvalidEvent included
            raise fail(record_type, f"field {label[:60]!r}: {e}") from None
    return data_null


def _adopt(layout: ReadLayout, flat: str, value: object, values: dict[str, Any], adopted: list[str] | None) -> None:
    """An extra of a field the layout now has: its value as the field's text, checked by its type."""
    if flat in values:
        raise ValueError(f"appears twice (as {flat} and as an extra)")
    if value is None:
        values[flat] = NULL
    else:
        check, encode = layout.writers[flat]
        check(value, flat)
        values[flat] = encode(value)
    if adopted is not None:
        adopted.append(flat)


def _adopt_field(
    layout: ReadLayout,
    name: str,
    value: object,
    values: dict[str, Any],
    object_extras: dict[str, dict[str, Any]],
    adopted: list[str] | None,
) -> None:
    obj = next((o for o in layout.objects if o[0] == name), None)
    if obj is None:
        _adopt(layout, name, value, values, adopted)
        return
    if name in values or any(flat in values for flat, _sub, _o in obj[2]):
        raise ValueError(f"appears twice (as {name} and as an extra)")
    if value is not None and not isinstance(value, dict):
        raise ValueError(f"{name} must be an object")
    if value is None or not value:
        values[name] = NULL if value is None else ""
        if adopted is not None:
            adopted.append(name)
        return
    for member, member_value in value.items():
        if member in obj[3]:
            _adopt(layout, f"{name}.{member}", member_value, values, adopted)
        else:
            check_json_value(member_value, "value", 2)
            object_extras.setdefault(name, {})[member] = member_value


def _unknown_column(
    layout: ReadLayout, raw_name: str, text: str, data_extras: dict[str, Any], object_extras: dict[str, dict[str, Any]]
) -> None:
    """A plain ``name=text`` field this layout does not know: kept as a data extra (its text)."""
    value: object = None if text == NULL else unescape(text)
    head, dot, sub = raw_name.partition(".")
    if not dot:
        if head in data_extras:
            raise ValueError("appears twice")
        data_extras[head] = value
        return
    known = next((o[3] for o in layout.objects if o[0] == head), None)
    if known is not None:
        members = object_extras.setdefault(head, {})
    else:
        if data_extras.get(head, "") == "":  # absent, or the empty marker of a new object
            data_extras[head] = {}
        members = data_extras[head]
        if not isinstance(members, dict):
            raise ValueError(f"{head!r} is both a value and an object")
    if sub in members:
        raise ValueError("appears twice")
    members[sub] = value
