"""Read System One record lines back (docs/system-one-format.md).

``read_record`` checks the structure and the layout's types of one line and returns a
``SystemOneRecord`` whose ``to_event()`` is the System Two event the line was written from.
``iter_lines`` (from ``lines``) splits a binary file into raw lines, streaming.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass

from ..events import (
    ENVELOPE_FIELDS,
    UUID_RE,
    InvalidEvent,
    check_json_value,
    check_timestamp,
    reject_json_constant,
    value_checker,
)
from ..streams import (
    BY_RECORD_TYPE,
    INT_MAX,
    INT_MIN,
    MAX_CODE_LENGTH,
    MAX_KEY_LENGTH,
    MONEY_DECIMAL_PLACES,
    MONEY_MAX_DIGITS,
    FieldSpec,
    StreamSpec,
)
from .escaping import CONTROLS, FORBIDDEN_RAW_RE, NULL, unescape
from .lines import CHUNK_SIZE, iter_lines

__all__ = ["CHUNK_SIZE", "SystemOneFormatError", "SystemOneRecord", "iter_lines", "read_record"]

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
    key: dict
    data: dict | None
    extras: dict
    data_null: bool = False

    def to_event(self) -> dict:
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


def _make_record(
    layout: _ReadLayout,
    event_type: str,
    event_id: str,
    version: int,
    occurred_at: str,
    key: dict,
    data: dict | None,
    extras: dict,
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
# How each field's text becomes its value: plain strings keep their (unescaped) text and are not
# listed at all; the others are (name, mode, function) in a stream's ``typed``.

_KEY_TEXT, _CHECKED, _INT, _BOOL, _LIST, _OBJECT = range(6)


class _ReadLayout:
    __slots__ = (
        "data_names",
        "key_names",
        "key_set",
        "layout_version",
        "lists",
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
        typed: list[tuple[str, int, Callable | None]] = []
        names: list[str] = []
        objects = []
        for f in spec.key:
            names.append(f.name)
            if f.type == "string":
                typed.append((f.name, _KEY_TEXT, None))
            else:
                typed.append(_typed(f.name, f))
        for f in spec.fields:
            names.append(f.name)
            if f.type == "object":
                typed.append((f.name, _OBJECT, None))
                subs = []
                for sub in f.fields:
                    if sub.type == "object":
                        raise ValueError(f"{f.name}.{sub.name}: objects inside objects are not part of layout 1")
                    flat = f"{f.name}.{sub.name}"
                    names.append(flat)
                    if sub.type != "string":
                        typed.append(_typed(flat, sub))
                    subs.append((flat, sub.name, sub.optional))
                objects.append((f.name, f.optional, tuple(subs), frozenset(s.name for s in f.fields)))
            elif f.type != "string":
                typed.append(_typed(f.name, f))
        self.names = frozenset(names)
        self.typed = tuple(typed)
        self.lists = frozenset(name for name, mode, _ in typed if mode == _LIST)
        self.objects: tuple[tuple[str, bool, tuple[tuple[str, str, bool], ...], frozenset[str]], ...] = tuple(objects)
        self.required = self.key_set | frozenset(f.name for f in spec.fields if not f.optional and f.type != "object")


def _typed(name: str, spec: FieldSpec) -> tuple[str, int, Callable | None]:
    if spec.type == "int":
        return (name, _INT, None)
    if spec.type == "bool":
        return (name, _BOOL, None)
    if spec.type == "string_list":
        return (name, _LIST, None)
    return (name, _CHECKED, value_checker(spec))


_LAYOUTS = {record_type: _ReadLayout(spec) for record_type, spec in BY_RECORD_TYPE.items()}
_MISSING = object()
_BOOLS = {"T": True, "F": False}

# The shape of every System One line: six header fields, then name=value fields, no raw control
# character anywhere.  Checked in one pass; when it fails, _diagnose says precisely what is wrong.
_TEXT = f"[^|={CONTROLS}]*+"
_STRUCTURE_RE = re.compile(f"{_TEXT}(?:\\|{_TEXT}){{{HEADER_FIELDS - 1}}}(?:\\|{_TEXT}={_TEXT})*+")


def _fail(record_type: str, message: str) -> SystemOneFormatError:
    return SystemOneFormatError(f"{record_type} record: {message}" if record_type else message)


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
    record_type = parts[0][:20] if parts[0] in _LAYOUTS else ""
    for i, part in enumerate(parts[:HEADER_FIELDS], 1):
        if "=" in part:
            return _fail(record_type, f"header field {i} ({part[:40]!r}) holds a raw '='")
    for part in parts[HEADER_FIELDS:]:
        equals = part.count("=")
        if equals == 0:
            return _fail(record_type, f"field {part[:60]!r} has no '=' (fields are name=value)")
        if equals > 1:
            return _fail(record_type, f"field {part[:60]!r} has more than one raw '=' (a '=' in a value is \\e)")
    return _fail(record_type, "malformed line")  # pragma: no cover - the cases above are exhaustive


def read_record(line: str) -> SystemOneRecord:
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
    fast = _FAST.get(line[: line.find("|")])
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
    layout = _LAYOUTS.get(record_type)
    if layout is None:
        raise SystemOneFormatError(
            f"unknown record type {record_type[:20]!r}; the record types are {', '.join(sorted(_LAYOUTS))}"
        )
    if flat[1] != layout.version_text:
        raise _fail(
            record_type, f"layout version {flat[1][:20]!r}, but this reader knows version {layout.version_text}"
        )
    operation = flat[2]
    if operation == "U":
        event_type = "upsert"
    elif operation == "D":
        event_type = "delete"
    else:
        raise _fail(record_type, f"operation must be U (upsert) or D (delete), got {operation[:20]!r}")
    event_id = flat[3]
    if UUID_RE.fullmatch(event_id) is None:
        raise _fail(record_type, f"eventId is not a UUID: {event_id[:40]!r}")
    text = flat[4]
    try:
        version = int(text)
    except ValueError:
        version = 0
    if str(version) != text or not 1 <= version <= INT_MAX:
        raise _fail(record_type, f"version must be an integer from 1 to {INT_MAX} in canonical form, got {text[:40]!r}")
    occurred_at = flat[5]
    try:
        check_timestamp(occurred_at, "occurredAt")
    except InvalidEvent as e:
        raise _fail(record_type, str(e)) from None

    # The fields: names at the even places after the header, values at the odd ones.
    names = flat[HEADER_FIELDS::2]
    values = dict(zip(names, flat[HEADER_FIELDS + 1 :: 2], strict=True))
    if len(values) != len(names):
        seen: set[str] = set()
        duplicate = next(n for n in names if n in seen or seen.add(n))  # type: ignore[func-returns-value]
        raise _fail(record_type, f"field {_shown(duplicate)!r} appears twice")
    extras: dict = {}
    data_extras: dict = {}
    object_extras: dict[str, dict] = {}
    data_null = False
    if not layout.names.issuperset(values):
        data_null = _read_specials(layout, event_type, values, extras, data_extras, object_extras)
    nulls: list[str] | None = None
    name = ""
    try:
        if "\\" in line:
            lists = layout.lists
            for name, text in values.items():
                if "\\" in text:
                    if text == NULL:
                        values[name] = None
                        if nulls is None:
                            nulls = []
                        nulls.append(name)
                    elif name not in lists:
                        values[name] = unescape(text)
        for name, mode, check in layout.typed:
            text = values.get(name)
            if text is None:
                continue
            if mode == _CHECKED:
                check(text, name)  # type: ignore[misc]
            elif mode == _INT:
                try:
                    number = int(text)
                except ValueError:
                    raise ValueError(f"is not an integer: {text[:40]!r}") from None
                if str(number) != text:
                    raise ValueError(f"is not a canonical integer (digits, optional minus, no leading zero): {text!r}")
                if not INT_MIN <= number <= INT_MAX:
                    raise ValueError("is outside the 64-bit integer range")
                values[name] = number
            elif mode == _KEY_TEXT:
                if not text:
                    raise ValueError("is empty, but it is a key")
                if len(text) > MAX_KEY_LENGTH:
                    raise ValueError(f"is longer than the {MAX_KEY_LENGTH} characters a key may have")
            elif mode == _LIST:
                items = text.split(";")
                if items.pop():
                    raise ValueError("is a list, and every element of a list ends in ';'")
                if "\\" in text:
                    items = [unescape(item) for item in items]
                values[name] = items
            elif mode == _BOOL:
                flag = _BOOLS.get(text)
                if flag is None:
                    raise ValueError(f"must be T or F, got {text[:40]!r}")
                values[name] = flag
            elif text:  # _OBJECT: "obj=" marks an object without members; nothing else is allowed
                raise ValueError("an object field's own value must be empty (or \\N for null)")
            else:
                values[name] = {}
    except InvalidEvent as e:
        raise _fail(record_type, f"field {e}") from None
    except ValueError as e:
        raise _fail(record_type, f"field {name}: {e}") from None

    key_names = layout.key_names
    if event_type == "upsert":
        if not layout.required <= values.keys():
            missing = sorted(layout.required.difference(values))
            raise _fail(record_type, f"required field {', '.join(missing)} is missing")
        if nulls is not None and not layout.required.isdisjoint(nulls):
            null = sorted(layout.required.intersection(nulls))
            raise _fail(record_type, f"required field {', '.join(null)} is null")
        if layout.objects:
            _assemble_objects(layout, values, object_extras)
        if data_extras:
            values.update(data_extras)
        data = values
    else:
        if values.keys() != layout.key_set or data_extras or object_extras:
            missing = sorted(layout.key_set.difference(values))
            if missing:
                raise _fail(record_type, f"key field {', '.join(missing)} is missing")
            fields = [n for n in values if n not in layout.key_set] + [f"+{n}" for n in data_extras]
            fields += [f"+{n}.*" for n in object_extras]
            raise _fail(record_type, f"a delete carries only its key, but this one has {', '.join(fields)}")
        if nulls is not None:
            raise _fail(record_type, f"key field {', '.join(sorted(nulls))} is null")
        data = None
    key = {name: values[name] for name in key_names}
    return _make_record(layout, event_type, event_id, version, occurred_at, key, data, extras, data_null)


# --- the fast path ------------------------------------------------------------------------------------------
# Most lines are exactly what write_record writes: layout fields in layout order, then any extras.
# One regular expression per layout matches such a line and checks nearly every type on the way.
# What it cannot decide (a day after the 28th, a year outside 1000-8999, a 19-digit integer, a
# code that is not [A-Z0-9_-], a null or escape where it matters, a bad extra, ...) goes to
# _read_general, which gives the same result or the precise error; tests/transforms check that
# both agree.

_S = f"[^|={CONTROLS}]*+"
_FAST_TYPES = {
    "string": f"({_S})",
    "code": r"([A-Z0-9_\-]{1,%d})" % MAX_CODE_LENGTH,  # noqa: UP031
    "money": r"(-?[0-9]{1,%d}(?:\.[0-9]{1,4})?)" % (MONEY_MAX_DIGITS - MONEY_DECIMAL_PLACES),  # noqa: UP031
    "date": r"([1-8][0-9]{3}-(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8]))",
    "timestamp": (
        r"([1-8][0-9]{3}-(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8])[Tt ](?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
        r"(?:\.[0-9]+)?(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9]))"
    ),
    "int": r"(0|-?[1-9][0-9]{0,17})",  # canonical, at most 18 digits: always in the 64-bit range
    "bool": "([TF])",
    "string_list": f"((?:[^|=;{CONTROLS}]*+;)*+)",
}
_FAST_TYPES["decimal"] = _FAST_TYPES["money"]
_FAST_KEY_STRING = f"([^|={CONTROLS}]{{1,{MAX_KEY_LENGTH}}}+)"  # raw length >= unescaped length
# Extras come last (the writer puts them there): "+name=json" and "@name=json" fields, parsed by
# _read_specials like on the general path.
_FAST_TAIL = f"((?:\\|[+@][^|={CONTROLS}]*+=[^|={CONTROLS}]*+)*+)"
_FAST_NULL = re.escape(NULL)
_FAST_NULLABLE = {t: f"({_FAST_NULL}|{p[1:]}" for t, p in _FAST_TYPES.items()}
_FAST_NULLABLE["string"] = _FAST_TYPES["string"]  # the string pattern matches \N already


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


def _split_list(text: str) -> list[str]:
    items = text.split(";")
    items.pop()  # the pattern made sure the text is empty or ends in ";"
    if "\\" in text:
        return [unescape(item) for item in items]
    return items


def _read_tail(layout: _ReadLayout, event_type: str, tail: str) -> tuple[dict, dict, dict, bool] | None:
    """The extras at the end of a fast-path line; None if anything is wrong (the general path says what)."""
    fields = dict(field.split("=") for field in tail[1:].split("|"))
    if len(fields) != tail.count("|"):
        return None  # a name twice
    extras: dict = {}
    data_extras: dict = {}
    object_extras: dict[str, dict] = {}
    try:
        data_null = _read_specials(layout, event_type, fields, extras, data_extras, object_extras)
    except SystemOneFormatError:
        return None
    return extras, data_extras, object_extras, data_null


_CONVERSIONS = {"int": "int({})", "bool": '{} == "T"', "string_list": "_split_list({})"}
_FAST_NAMESPACE = {
    "NULL": NULL,
    "_NULL_VALUE": _NULL_VALUE,
    "_unescape_required": _unescape_required,
    "_unescape_optional": _unescape_optional,
    "_split_list": _split_list,
    "_read_tail": _read_tail,
    "_new": object.__new__,
    "_Record": SystemOneRecord,
}


class _FastLayout:
    """The fast path of one layout: its two patterns and the functions that turn their matches into records.

    The functions are generated (as ``collections.namedtuple`` and ``dataclasses`` generate theirs):
    straight-line code that unpacks the match's groups into a record costs a third of a loop over
    the fields.  Each returns None (the general path decides) when a value needs it.
    """

    __slots__ = ("delete", "read_delete", "read_upsert", "source", "upsert")

    def __init__(self, spec: StreamSpec) -> None:
        head = (
            f"{re.escape(spec.record_type)}\\|{spec.layout_version}\\|%s"
            f"\\|({UUID_RE.pattern})\\|([1-9][0-9]{{0,17}})\\|{_FAST_TYPES['timestamp']}"
        )
        key = "".join(
            f"\\|{f.name}=" + (_FAST_KEY_STRING if f.type == "string" else _FAST_TYPES[f.type]) for f in spec.key
        )
        self.delete = re.compile(head % "D" + key + _FAST_TAIL)

        # (variable, flat name, spec, optional, object it belongs to or None), in line order
        fields: list[tuple[str, str, FieldSpec, bool, str | None]] = [
            (f"v{i}", f.name, f, False, None) for i, f in enumerate(spec.key)
        ]
        for f in spec.fields:
            if f.type == "object":
                if f.optional or all(sub.optional for sub in f.fields):
                    raise ValueError(f"{f.name}: the fast path handles required objects with a required member")
                for sub in f.fields:
                    fields.append((f"v{len(fields)}", f"{f.name}.{sub.name}", sub, sub.optional, f.name))
            else:
                fields.append((f"v{len(fields)}", f.name, f, f.optional, None))
        patterns = []
        for _var, flat, f, optional, _obj in fields[len(spec.key) :]:
            if f.type == "enum":
                pattern = "(" + "|".join(re.escape(v) for v in f.values) + ")"
                if optional:
                    pattern = f"({_FAST_NULL}|{pattern[1:]}"
            else:
                pattern = (_FAST_NULLABLE if optional else _FAST_TYPES)[f.type]
            name = re.escape(flat)
            patterns.append(f"(?:\\|{name}={pattern})?" if optional else f"\\|{name}={pattern}")
        self.upsert = re.compile(head % "U" + key + "".join(patterns) + _FAST_TAIL)

        layout = _LAYOUTS[spec.record_type]
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
    def _source(
        layout: _ReadLayout, event_type: str, fields: list[tuple[str, str, FieldSpec, bool, str | None]], keys: int
    ) -> list[str]:
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
        for var, _flat, _f, optional, _obj in fields:
            if optional:
                src.append(f"            if {var} == NULL:")
                src.append(f"                {var} = _NULL_VALUE")
        for var, _flat, f, optional, _obj in fields:
            if f.type == "string":
                helper = "_unescape_optional" if optional else "_unescape_required"
                src.append(f"            {var} = {helper}({var})")
        src.append("            pass")
        for var, _flat, f, optional, _obj in fields:
            conversion = _CONVERSIONS.get(f.type)
            if conversion is None:
                continue
            if optional:
                src.append(f"        if {var} is not None and {var} is not _NULL_VALUE:")
                src.append(f"            {var} = {conversion.format(var)}")
            else:
                src.append(f"        {var} = {conversion.format(var)}")
        src += ["    except ValueError:", "        return None"]
        key = ", ".join(f"{f.name!r}: {var}" for (var, _flat, f, _o, _obj) in fields[:keys])
        if event_type == "upsert":
            objects: dict[str, list[tuple[str, str, FieldSpec, bool, str | None]]] = {}
            for entry in fields:
                if entry[4] is not None:
                    objects.setdefault(entry[4], []).append(entry)
            for number, members in enumerate(objects.values()):
                required = ", ".join(f"{m[2].name!r}: {m[0]}" for m in members if not m[3])
                src.append(f"    o{number} = {{{required}}}")
                for var, _flat, f, optional, _obj in members:
                    if optional:
                        src.append(f"    if {var} is not None:")
                        src.append(f"        o{number}[{f.name!r}] = None if {var} is _NULL_VALUE else {var}")
            entries = [
                f"{f.name!r}: {var}" for (var, _flat, f, optional, obj) in fields if not optional and obj is None
            ]
            entries += [f"{obj!r}: o{number}" for number, obj in enumerate(objects)]
            src.append(f"    values = {{{', '.join(entries)}}}")
            for var, _flat, f, optional, obj in fields:
                if optional and obj is None:
                    src.append(f"    if {var} is not None:")
                    src.append(f"        values[{f.name!r}] = None if {var} is _NULL_VALUE else {var}")
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


_FAST = {record_type: _FastLayout(spec) for record_type, spec in BY_RECORD_TYPE.items()}


def _decode(line: object) -> str:
    if not isinstance(line, bytes | bytearray | memoryview):
        raise TypeError(f"read_record needs a str (or UTF-8 bytes), got {type(line).__name__}")
    try:
        return bytes(line).decode("utf-8")
    except UnicodeDecodeError as e:
        raise SystemOneFormatError(f"line is not UTF-8: {e.reason} at byte {e.start}") from None


def _shown(name: str) -> str:
    try:
        return unescape(name)
    except ValueError:
        return name


def _assemble_objects(layout: _ReadLayout, values: dict, object_extras: dict[str, dict]) -> None:
    """Turn the flattened ``obj.sub`` values back into nested dicts, in place."""
    record_type = layout.record_type
    for name, optional, subs, _known in layout.objects:
        marker = values.pop(name, _MISSING)
        obj: dict = {}
        for flat, sub, _sub_optional in subs:
            value = values.pop(flat, _MISSING)
            if value is not _MISSING:
                obj[sub] = value
        extra = object_extras.get(name)
        if extra:
            obj.update(extra)
        if marker is None:
            if obj:
                raise _fail(record_type, f"object {name} is null but has members")
            if not optional:
                raise _fail(record_type, f"required field {name} is null")
            values[name] = None
            continue
        if marker is _MISSING and not obj:
            if not optional:
                raise _fail(record_type, f"required field {name} is missing")
            continue
        if marker is not _MISSING and obj:
            raise _fail(record_type, f"object {name} is marked empty but has members")
        for flat, sub, sub_optional in subs:
            if not sub_optional and obj.get(sub) is None:
                raise _fail(record_type, f"required field {flat} is {'null' if sub in obj else 'missing'}")
        values[name] = obj


def _read_json(text: str) -> object:
    try:
        return json.loads(unescape(text), parse_constant=reject_json_constant)
    except InvalidEvent:
        raise
    except (ValueError, RecursionError) as e:
        raise ValueError(f"is not JSON: {e}") from None


def _read_specials(
    layout: _ReadLayout,
    event_type: str,
    values: dict,
    extras: dict,
    data_extras: dict,
    object_extras: dict[str, dict],
) -> bool:
    """Take the fields that are not layout fields out of ``values``: extras (``@`` envelope, ``+`` data)."""
    record_type = layout.record_type
    data_null = False
    for raw_name in [n for n in values if n not in layout.names]:
        text = values.pop(raw_name)
        label = _shown(raw_name)
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
            raise _fail(record_type, f"field {label[:60]!r}: {e}") from None
    return data_null
