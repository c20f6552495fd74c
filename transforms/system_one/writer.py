"""Write a validated System Two event as one System One record line (docs/system-one-format.md)."""

from __future__ import annotations

import json
from typing import Any

from ..events import ENVELOPE_FIELDS
from ..field_types import Encoder, encode_int, field_type
from ..streams import STREAMS, FieldSpec, StreamSpec
from .escaping import NULL, escape_name, escape_value

__all__ = ["OPERATIONS", "write_record"]

OPERATIONS = {"upsert": "U", "delete": "D"}


def _json(value: object) -> str:
    return escape_value(json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False))


def _by_members(value: object) -> str:
    raise TypeError("an object field is written member by member")


class _ObjectLayout:
    __slots__ = ("known", "subs")

    def __init__(self, spec: FieldSpec) -> None:
        for sub in spec.fields:
            if sub.type == "object":
                raise ValueError(f"{spec.name}.{sub.name}: objects inside objects are not part of layout 1")
        self.subs: tuple[tuple[str, str, Encoder], ...] = tuple(
            (sub.name, f"{spec.name}.{sub.name}=", field_type(sub).encode) for sub in spec.fields
        )
        self.known = frozenset(sub.name for sub in spec.fields)


class _WriteLayout:
    __slots__ = ("data", "key", "known", "record_type", "version")

    def __init__(self, spec: StreamSpec) -> None:
        self.record_type = spec.record_type
        self.version = str(spec.layout_version)
        self.key: tuple[tuple[str, str, Encoder], ...] = tuple(
            (f.name, f.name + "=", field_type(f, key=True).encode) for f in spec.key
        )
        self.data: tuple[tuple[str, str, Encoder, _ObjectLayout | None], ...] = tuple(
            (f.name, f.name + "=", _by_members, _ObjectLayout(f)) if f.type == "object" else
            (f.name, f.name + "=", field_type(f).encode, None)
            for f in spec.fields
        )  # fmt: skip
        self.known = frozenset(spec.key_names) | frozenset(f.name for f in spec.fields)


_LAYOUTS = {name: _WriteLayout(spec) for name, spec in STREAMS.items()}


def write_record(event: dict[str, Any], stream: str | None = None) -> str:
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
        encode_int(event["version"]),
        escape_value(event["occurredAt"]),
    ]
    append = parts.append
    key = event["key"]
    for field, prefix, encode_key in layout.key:
        append(prefix + encode_key(key[field]))

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
