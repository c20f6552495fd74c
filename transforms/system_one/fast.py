"""The System One reader's fast path: one generated parser per record type.

Most lines are exactly what write_record writes: layout fields in layout order, then any extras.
One regular expression per layout, assembled from the field types' ``pattern``, matches such a
line and checks nearly every type on the way.  What it cannot decide (a day after the 28th, a
year outside 1000-8999, a 19-digit integer, a code that is not [A-Z0-9_-], a null or escape
where it matters, a bad extra, ...) is left to the general reader (``reader``), which gives the
same result or the precise error; tests/transforms check that both agree.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from ..events import UUID_RE
from ..field_types import TYPES, FieldType, field_type
from ..streams import BY_RECORD_TYPE, StreamSpec
from .escaping import CONTROLS, NULL, unescape
from .record import LAYOUTS, ReadLayout, SystemOneFormatError, SystemOneRecord, read_specials

__all__ = ["FAST", "FastLayout"]

# Extras come last (the writer puts them there): "+name=json" and "@name=json" fields, parsed by
# read_specials like on the general path.
_FAST_TAIL = f"((?:\\|[+@][^|={CONTROLS}]*+=[^|={CONTROLS}]*+)*+)"
_FAST_NULL = re.escape(NULL)


def _nullable(pattern: str) -> str:
    """The pattern of an optional field: its type's pattern, or \\N for null."""
    if re.fullmatch(pattern, NULL) is not None:
        return pattern  # a string's pattern matches \\N already
    return f"({_FAST_NULL}|{pattern[1:]}"


def _unescape_required(text: str) -> str:
    if "\\" not in text:
        return text
    if text == NULL:
        raise ValueError("null where the layout wants a value")
    return unescape(text)


def _unescape_optional(text: object) -> object:
    if type(text) is not str or "\\" not in text:  # None (absent), _NULL_VALUE, or nothing to undo
        return text
    return unescape(text)


_NULL_VALUE = object()  # an optional field's \N, told apart before unescaping (the text "\N" is written "\\N")


def _read_tail(
    layout: ReadLayout, event_type: str, tail: str
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], bool] | None:
    """The extras at the end of a fast-path line; None if anything is wrong (the general path says what)."""
    fields = dict(field.split("=") for field in tail[1:].split("|"))
    if len(fields) != tail.count("|"):
        return None  # a name twice
    extras: dict[str, Any] = {}
    data_extras: dict[str, Any] = {}
    object_extras: dict[str, dict[str, Any]] = {}
    adopted: list[str] = []
    try:
        data_null = read_specials(layout, event_type, fields, extras, data_extras, object_extras, adopted)
    except SystemOneFormatError:
        return None
    if adopted:  # an extra that is now a layout field: the general path reads it as the field
        return None
    return extras, data_extras, object_extras, data_null


# (variable, flat name, name in its object or in data, type, optional, object it belongs to or None)
_Field = tuple[str, str, str, FieldType, bool, str | None]


def _decoder_name(kind: FieldType) -> str:
    return f"_decode_{kind.name}"


_FAST_NAMESPACE: dict[str, Any] = {
    "NULL": NULL,
    "_NULL_VALUE": _NULL_VALUE,
    "_unescape_required": _unescape_required,
    "_unescape_optional": _unescape_optional,
    "_read_tail": _read_tail,
    "_new": object.__new__,
    "_Record": SystemOneRecord,
}
# The types whose matched text is not yet the value: the generated code calls their fast_decode.
_FAST_NAMESPACE.update({_decoder_name(t): t.fast_decode for t in TYPES.values() if t.fast_decode is not None})


class FastLayout:
    """The fast path of one layout: its two patterns and the functions that turn their matches into records.

    The functions are generated (as ``collections.namedtuple`` and ``dataclasses`` generate theirs):
    straight-line code that unpacks the match's groups into a record costs a third of a loop over
    the fields.  Each returns None (the general path decides) when a value needs it.
    """

    __slots__ = ("delete", "read_delete", "read_upsert", "source", "upsert")

    def __init__(self, spec: StreamSpec) -> None:
        head = (
            f"{re.escape(spec.record_type)}\\|{spec.layout_version}\\|%s"
            f"\\|({UUID_RE.pattern})\\|([1-9][0-9]{{0,17}})\\|{TYPES['timestamp'].pattern}"
        )
        fields: list[_Field] = [
            (f"v{i}", f.name, f.name, field_type(f, key=True), False, None) for i, f in enumerate(spec.key)
        ]
        key = "".join(f"\\|{re.escape(flat)}={kind.pattern}" for _var, flat, _name, kind, _o, _obj in fields)
        self.delete = re.compile(head % "D" + key + _FAST_TAIL)

        for f in spec.fields:
            if f.type == "object":
                if f.optional or all(sub.optional for sub in f.fields):
                    raise ValueError(f"{f.name}: the fast path handles required objects with a required member")
                for sub in f.fields:
                    flat = f"{f.name}.{sub.name}"
                    fields.append((f"v{len(fields)}", flat, sub.name, field_type(sub), sub.optional, f.name))
            else:
                fields.append((f"v{len(fields)}", f.name, f.name, field_type(f), f.optional, None))
        patterns = []
        for _var, flat, _name, kind, optional, _obj in fields[len(spec.key) :]:
            name = re.escape(flat)
            if optional:
                patterns.append(f"(?:\\|{name}={_nullable(kind.pattern)})?")
            else:
                patterns.append(f"\\|{name}={kind.pattern}")
        self.upsert = re.compile(head % "U" + key + "".join(patterns) + _FAST_TAIL)

        layout = LAYOUTS[spec.record_type]
        keys = fields[: len(spec.key)]
        lines = [
            *self._source(layout, "upsert", fields, len(spec.key)),
            "",
            *self._source(layout, "delete", keys, len(spec.key)),
        ]
        self.source = "\n".join(lines)
        namespace = dict(_FAST_NAMESPACE, _layout=layout)
        exec(compile(self.source, f"<System One fast path {spec.record_type}>", "exec"), namespace)  # noqa: S102
        self.read_upsert: Callable[[re.Match[str], str], SystemOneRecord | None] = namespace["read_upsert"]
        self.read_delete: Callable[[re.Match[str], str], SystemOneRecord | None] = namespace["read_delete"]

    @staticmethod
    def _source(layout: ReadLayout, event_type: str, fields: list[_Field], keys: int) -> list[str]:
        """The source of ``read_upsert`` or ``read_delete``; ``fields[:keys]`` are the key fields."""
        variables = ", ".join(var for var, *_ in fields)
        src = [
            f"def read_{event_type}(match, line):",
            f"    event_id, version, occurred_at, {variables}, tail = match.groups()",
            "    extras, data_null = {}, False",
            "    if tail:",
            f"        parsed = _read_tail(_layout, {event_type!r}, tail)",
            "        if parsed is None:",
            "            return None",
            "        extras, data_extras, object_extras, data_null = parsed",
            "    try:",
            '        if "\\\\" in line:',
        ]
        for var, _flat, _name, _kind, optional, _obj in fields:
            if optional:
                src.append(f"            if {var} == NULL:")
                src.append(f"                {var} = _NULL_VALUE")
        for var, _flat, _name, kind, optional, _obj in fields:
            if kind.fast_escaped:
                helper = "_unescape_optional" if optional else "_unescape_required"
                src.append(f"            {var} = {helper}({var})")
        src.append("            pass")
        for var, _flat, _name, kind, optional, _obj in fields:
            if kind.fast_decode is None:
                continue
            decode = _decoder_name(kind)
            if optional:
                src.append(f"        if {var} is not None and {var} is not _NULL_VALUE:")
                src.append(f"            {var} = {decode}({var})")
            else:
                src.append(f"        {var} = {decode}({var})")
        src += ["    except ValueError:", "        return None"]
        key = ", ".join(f"{name!r}: {var}" for (var, _flat, name, _kind, _o, _obj) in fields[:keys])
        if event_type == "upsert":
            objects: dict[str, list[_Field]] = {}
            for entry in fields:
                if entry[5] is not None:
                    objects.setdefault(entry[5], []).append(entry)
            for number, members in enumerate(objects.values()):
                required = ", ".join(f"{m[2]!r}: {m[0]}" for m in members if not m[4])
                src.append(f"    o{number} = {{{required}}}")
                for var, _flat, name, _kind, optional, _obj in members:
                    if optional:
                        src.append(f"    if {var} is not None:")
                        src.append(f"        o{number}[{name!r}] = None if {var} is _NULL_VALUE else {var}")
            entries = [
                f"{name!r}: {var}"
                for (var, _flat, name, _kind, optional, obj) in fields
                if not optional and obj is None
            ]
            entries += [f"{obj!r}: o{number}" for number, obj in enumerate(objects)]
            src.append(f"    values = {{{', '.join(entries)}}}")
            for var, _flat, name, _kind, optional, obj in fields:
                if optional and obj is None:
                    src.append(f"    if {var} is not None:")
                    src.append(f"        values[{name!r}] = None if {var} is _NULL_VALUE else {var}")
            src.append("    if tail:")
            src.append("        values.update(data_extras)")
            for number, obj in enumerate(objects):
                src.append(f"        o{number}.update(object_extras.get({obj!r}, ()))")
            data = "values"
        else:
            data = "None"
        src += [
            "    record = _new(_Record)",
            "    record.__dict__.update(",
            f"        stream={layout.stream!r}, record_type={layout.record_type!r},"
            f" layout_version={layout.layout_version!r}, event_type={event_type!r},",
            "        event_id=event_id, version=int(version), occurred_at=occurred_at,",
            f"        key={{{key}}}, data={data}, extras=extras, data_null=data_null,",
            "    )",
            "    return record",
        ]
        return src


FAST = {record_type: FastLayout(spec) for record_type, spec in BY_RECORD_TYPE.items()}
