"""Write a validated System Two event as one System One record line (docs/system-one-format.md)."""

from __future__ import annotations

import json
from collections.abc import Callable

from ..events import ENVELOPE_FIELDS
from ..streams import STREAMS, FieldSpec, StreamSpec
from .escaping import NULL, escape_element, escape_name, escape_value

__all__ = ["OPERATIONS", "write_record"]

OPERATIONS = {"upsert": "U", "delete": "D"}

Encoder = Callable[[object], str]


def _json(value: object) -> str:
    return escape_value(json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False))


def _list(value: object) -> str:
    if not isinstance(value, list):
        raise TypeError(f"expected a list, got {type(value).__name__}")
    return "".join([escape_element(item) + ";" for item in value])  # every element ends in ";"


def _int(value: object) -> str:
    if type(value) is not int:
        raise TypeError(f"expected an int, got {type(value).__name__}")
    return str(value)


def _bool(value: object) -> str:
    if value is True:
        return "T"
    if value is False:
        return "F"
    raise TypeError(f"expected a bool, got {type(value).__name__}")


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a str, got {type(value).__name__}")
    return escape_value(value)


_ENCODERS: dict[str, Encoder] = {
    "string": _text,
    "code": _text,
    "enum": _text,
    "money": _text,
    "decimal": _text,
    "date": _text,
    "timestamp": _text,
    "int": _int,
    "bool": _bool,
    "string_list": _list,
}


class _ObjectLayout:
    __slots__ = ("known", "subs")

    def __init__(self, spec: FieldSpec) -> None:
        for sub in spec.fields:
            if sub.type == "object":
                raise ValueError(f"{spec.name}.{sub.name}: objects inside objects are not part of layout 1")
        self.subs: tuple[tuple[str, str, Encoder], ...] = tuple(
            (sub.name, f"{spec.name}.{sub.name}=", _ENCODERS[sub.type]) for sub in spec.fields
        )
        self.known = frozenset(sub.name for sub in spec.fields)


class _WriteLayout:
    __slots__ = ("data", "key", "known", "record_type", "version")

    def __init__(self, spec: StreamSpec) -> None:
        self.record_type = spec.record_type
        self.version = str(spec.layout_version)
        self.key: tuple[tuple[str, str, Encoder], ...] = tuple(
            (f.name, f.name + "=", _ENCODERS[f.type]) for f in spec.key
        )
        self.data: tuple[tuple[str, str, Encoder | None, _ObjectLayout | None], ...] = tuple(
            (f.name, f.name + "=", None, _ObjectLayout(f)) if f.type == "object" else
            (f.name, f.name + "=", _ENCODERS[f.type], None)
            for f in spec.fields
        )  # fmt: skip
        self.known = frozenset(spec.key_names) | frozenset(f.name for f in spec.fields)


_LAYOUTS = {name: _WriteLayout(spec) for name, spec in STREAMS.items()}


def write_record(event: dict, stream: str | None = None) -> str:
    """The System One line (ending in ``"\\n"``) of a validated event of ``stream`` (default: its ``stream``).

    The event must have passed ``transforms.events.validate_event``; for anything else the line may
    be one that ``read_record`` rejects, or this raises ``KeyError``/``TypeError``/``ValueError``.
    """
    name = event["stream"] if stream is None else stream
    layout = _LAYOUTS.get(name)
    if layout is None:
        raise ValueError(f"unknown stream {name!r}")
    upsert = event["eventType"] == "upsert"
    parts = [
        layout.record_type,
        layout.version,
        OPERATIONS[event["eventType"]],
        escape_value(event["eventId"]),
        _int(event["version"]),
        escape_value(event["occurredAt"]),
    ]
    append = parts.append
    key = event["key"]
    for field, prefix, encode in layout.key:
        append(prefix + encode(key[field]))

    if upsert:
        data = event["data"]
        for field, prefix, encode, obj in layout.data:
            if field not in data:
                continue
            value = data[field]
            if value is None:
                append(prefix + NULL)
            elif obj is None:
                append(prefix + encode(value))
            else:
                written = len(parts)
                for sub, sub_prefix, sub_encode in obj.subs:
                    if sub in value:
                        sub_value = value[sub]
                        append(sub_prefix + (NULL if sub_value is None else sub_encode(sub_value)))
                if not obj.known.issuperset(value):
                    for extra, extra_value in value.items():
                        if extra not in obj.known:
                            append(f"+{field}.{escape_name(extra)}={_json(extra_value)}")
                if len(parts) == written:
                    append(prefix)  # "billingAddress=": an object with no members at all
        if not layout.known.issuperset(data):
            for extra, extra_value in data.items():
                if extra not in layout.known:
                    append(f"+{escape_name(extra)}={_json(extra_value)}")
    elif "data" in event:
        if event["data"] is not None:
            raise ValueError("a delete event must not carry data")
        append("@data=null")  # the delete said "data": null (rather than leaving data out)

    if not ENVELOPE_FIELDS.issuperset(event):
        for extra, extra_value in event.items():
            if extra not in ENVELOPE_FIELDS:
                append(f"@{escape_name(extra)}={_json(extra_value)}")
    return "|".join(parts) + "\n"
