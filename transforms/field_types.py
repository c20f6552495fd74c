"""The field types of ``streams.json``: one ``FieldType`` per type holds all its rules.

A value travels: System Two's JSON (``check``, in ``events.validate_event``) -> a System One
field's text (``encode``, in the writer) -> back to the value (``decode`` in the general reader;
``pattern`` and ``fast_decode`` on the reader's fast path) -> the database's value (``convert``,
in ``ingest/services/importing/parsing.py``).  ``field_type(spec)`` gives a field's descriptor: enums
get one of their own (their values), and a key string or a string that references another
entity gets ``KEY_STRING`` (it holds a key: non-empty, at most ``MAX_KEY_LENGTH`` long).
``object`` is not a value type: its members are fields of their own, which every stage walks.

Standard library only (the transform Lambda imports this), and cheap to import: the fast path's patterns are
kept as text and compiled by the reader, which the Lambda never loads.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import cache
from typing import TYPE_CHECKING, Any

from .invalid import InvalidEvent, kind, short
from .system_one.escaping import CONTROLS, escape_element, escape_value, unescape
from .timestamps import DATE_PATTERN, TIMESTAMP_PATTERN, check_date, check_timestamp, to_datetime

if TYPE_CHECKING:
    from .streams import FieldSpec

__all__ = [
    "FIELD_TYPES",
    "INT_MAX",
    "INT_MIN",
    "KEY_STRING",
    "MAX_CODE_LENGTH",
    "MAX_KEY_LENGTH",
    "MONEY_DECIMAL_PLACES",
    "MONEY_MAX_DIGITS",
    "TYPES",
    "Checker",
    "Decoder",
    "Encoder",
    "FieldType",
    "check_text",
    "encode_int",
    "field_type",
]

# Limits that the website's columns impose; the transform rejects what would not fit
# so that a bad event fails at the edge, with a reason, instead of inside a batch.
MAX_KEY_LENGTH = 128
MAX_CODE_LENGTH = 64
MONEY_MAX_DIGITS = 28
MONEY_DECIMAL_PLACES = 4
MONEY_INTEGER_DIGITS = MONEY_MAX_DIGITS - MONEY_DECIMAL_PLACES
INT_MIN = -(2**63)
INT_MAX = 2**63 - 1

Checker = Callable[[object, str], None]  # (value, path) -> None, or InvalidEvent naming the path
Encoder = Callable[[Any], str]
Decoder = Callable[[str, str], Any]  # (text, path) -> value, or ValueError (InvalidEvent: with the path)


@dataclass(frozen=True, eq=False)
class FieldType:
    """Everything the code knows about one type of field."""

    name: str
    check: Checker  # events: the JSON value, or InvalidEvent naming the path (null is the caller's business)
    encode: Encoder  # writer: a checked value as its System One text, escaped
    # General reader: the field's text (unescaped first unless ``decode_escaped``) as the value,
    # or ValueError; None: the text is the value, unchecked.
    decode: Decoder | None
    pattern: str  # reader's fast path: a regex with one group; what it matches, decode accepts
    fast_decode: Callable[[str], Any] | None  # fast path: the matched text as the value (None: the text)
    convert: Callable[[Any], Any] | None = None  # importer: the value as its database column takes it
    decode_escaped: bool = False  # decode gets the text still escaped (a list unescapes each element)
    fast_escaped: bool = False  # the fast pattern lets escapes through: the fast path unescapes the text


# --- check: the JSON value of an event ----------------------------------------------------------------------


_SURROGATE_RE = re.compile("[\ud800-\udfff]")
_MONEY_RE = re.compile(r"-?([0-9]+)(?:\.[0-9]{1,%d})?" % MONEY_DECIMAL_PLACES)  # noqa: UP031


def check_text(value: str, path: str) -> None:
    """Text is Unicode: no lone surrogate (JSON's ``\\ud800`` escapes can make one)."""
    if not value.isascii():
        m = _SURROGATE_RE.search(value)
        if m is not None:
            raise InvalidEvent(f"contains the lone surrogate U+{ord(m.group()):04X}, which is not Unicode text", path)


def _check_string(value: object, path: str) -> None:
    if not isinstance(value, str):
        raise InvalidEvent(f"must be a string, got {kind(value)}", path)
    check_text(value, path)


def _check_key_string(value: object, path: str) -> None:
    if not isinstance(value, str):
        raise InvalidEvent(f"must be a string, got {kind(value)}", path)
    if not value:
        raise InvalidEvent("must not be empty (it is a key)", path)
    if len(value) > MAX_KEY_LENGTH:
        raise InvalidEvent(f"is {len(value)} characters long, more than the {MAX_KEY_LENGTH} a key may have", path)
    check_text(value, path)


def _check_code(value: object, path: str) -> None:
    if not isinstance(value, str):
        raise InvalidEvent(f"must be an upper-case code string, got {kind(value)}", path)
    if not value:
        raise InvalidEvent("must be an upper-case code, not empty", path)
    if len(value) > MAX_CODE_LENGTH:
        raise InvalidEvent(f"is {len(value)} characters long, more than the {MAX_CODE_LENGTH} a code may have", path)
    check_text(value, path)
    if value != value.upper():
        raise InvalidEvent(f"must be an upper-case code, got {short(value)}", path)


def _check_money(value: object, path: str) -> None:
    if not isinstance(value, str):
        raise InvalidEvent(f'must be a decimal string such as "12.50" (never a JSON number), got {kind(value)}', path)
    m = _MONEY_RE.fullmatch(value)
    if m is None:
        raise InvalidEvent(
            f"must be a decimal string (optional minus, digits, up to {MONEY_DECIMAL_PLACES} decimal places), "
            f"got {short(value)}",
            path,
        )
    digits = m.group(1)
    if len(digits) > MONEY_INTEGER_DIGITS and len(digits.lstrip("0")) > MONEY_INTEGER_DIGITS:
        raise InvalidEvent(f"has more than {MONEY_INTEGER_DIGITS} digits before the decimal point", path)


def _check_int(value: object, path: str) -> None:
    if type(value) is not int:
        raise InvalidEvent(f"must be an integer, got {kind(value)}", path)
    if not INT_MIN <= value <= INT_MAX:
        raise InvalidEvent("is outside the 64-bit integer range", path)


def _check_bool(value: object, path: str) -> None:
    if value is not True and value is not False:
        raise InvalidEvent(f"must be true or false, got {kind(value)}", path)


def _check_string_list(value: object, path: str) -> None:
    if not isinstance(value, list):
        raise InvalidEvent(f"must be an array of strings, got {kind(value)}", path)
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise InvalidEvent(f"must be a string, got {kind(item)}", f"{path}[{i}]")
        if not item.isascii():
            check_text(item, f"{path}[{i}]")


# --- encode: the value as System One text -------------------------------------------------------------------


def _encode_text(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a str, got {type(value).__name__}")
    return escape_value(value)


def encode_int(value: object) -> str:
    if type(value) is not int:
        raise TypeError(f"expected an int, got {type(value).__name__}")
    return str(value)


def _encode_bool(value: object) -> str:
    if value is True:
        return "T"
    if value is False:
        return "F"
    raise TypeError(f"expected a bool, got {type(value).__name__}")


def _encode_list(value: object) -> str:
    if not isinstance(value, list):
        raise TypeError(f"expected a list, got {type(value).__name__}")
    return "".join([escape_element(item) + ";" for item in value])  # every element ends in ";"


# --- decode: the text of a field back to the value (general reader) -----------------------------------------


def _decode_key_text(text: str, path: str) -> str:
    if not text:
        raise ValueError("is empty, but it is a key")
    if len(text) > MAX_KEY_LENGTH:
        raise ValueError(f"is longer than the {MAX_KEY_LENGTH} characters a key may have")
    return text


def _decode_int(text: str, path: str) -> int:
    try:
        number = int(text)
    except ValueError:
        raise ValueError(f"is not an integer: {text[:40]!r}") from None
    if str(number) != text:
        raise ValueError(f"is not a canonical integer (digits, optional minus, no leading zero): {text!r}")
    if not INT_MIN <= number <= INT_MAX:
        raise ValueError("is outside the 64-bit integer range")
    return number


_BOOLS = {"T": True, "F": False}


def _decode_bool(text: str, path: str) -> bool:
    flag = _BOOLS.get(text)
    if flag is None:
        raise ValueError(f"must be T or F, got {text[:40]!r}")
    return flag


def _decode_list(text: str, path: str) -> list[str]:
    items = text.split(";")
    if items.pop():
        raise ValueError("is a list, and every element of a list ends in ';'")
    if "\\" in text:
        items = [unescape(item) for item in items]
    return items


def _checked(check: Checker) -> Decoder:
    """The decoder of a type whose text is its value: the type's own check, on that text."""

    def decode(text: str, path: str) -> str:
        check(text, path)
        return text

    return decode


def _split_list(text: str) -> list[str]:
    items = text.split(";")
    items.pop()  # the fast pattern made sure the text is empty or ends in ";"
    if "\\" in text:
        return [unescape(item) for item in items]
    return items


# --- the types -----------------------------------------------------------------------------------------------

_TEXT = f"[^|={CONTROLS}]*+"  # any text without raw delimiters: escapes (and \N) pass
_MONEY = r"(-?[0-9]{1,%d}(?:\.[0-9]{1,%d})?)" % (MONEY_INTEGER_DIGITS, MONEY_DECIMAL_PLACES)  # noqa: UP031


def _text_type(name: str, check: Checker, pattern: str, convert: Callable[[Any], Any] | None = None) -> FieldType:
    """A type written as its own text (escaped), read back and checked by its own check."""
    return FieldType(name, check, _encode_text, _checked(check), pattern, None, convert)


STRING = FieldType("string", _check_string, _encode_text, None, f"({_TEXT})", None, fast_escaped=True)
KEY_STRING = FieldType(
    "string",
    _check_key_string,
    _encode_text,
    _decode_key_text,
    f"([^|={CONTROLS}]{{1,{MAX_KEY_LENGTH}}}+)",  # the raw length is at least the unescaped length
    None,
    fast_escaped=True,
)
TYPES: dict[str, FieldType] = {
    "string": STRING,
    "code": _text_type("code", _check_code, r"([A-Z0-9_\-]{1,%d})" % MAX_CODE_LENGTH),  # noqa: UP031
    "money": _text_type("money", _check_money, _MONEY, Decimal),
    "decimal": _text_type("decimal", _check_money, _MONEY, Decimal),
    "date": _text_type("date", check_date, DATE_PATTERN, date.fromisoformat),
    "timestamp": _text_type("timestamp", check_timestamp, TIMESTAMP_PATTERN, to_datetime),
    # Canonical and at most 18 digits on the fast path: always in the 64-bit range.
    "int": FieldType("int", _check_int, encode_int, _decode_int, r"(0|-?[1-9][0-9]{0,17})", int),
    "bool": FieldType("bool", _check_bool, _encode_bool, _decode_bool, "([TF])", "T".__eq__),
    "string_list": FieldType(
        "string_list",
        _check_string_list,
        _encode_list,
        _decode_list,
        f"((?:[^|=;{CONTROLS}]*+;)*+)",
        _split_list,
        decode_escaped=True,
    ),
}
FIELD_TYPES = frozenset(TYPES) | {"enum", "object"}


@cache
def _enum(values: tuple[str, ...]) -> FieldType:
    allowed = frozenset(values)
    listed = ", ".join(values)

    def check(value: object, path: str) -> None:
        if not isinstance(value, str) or value not in allowed:
            raise InvalidEvent(f"must be one of {listed}; got {kind(value)}", path)

    pattern = "(" + "|".join(re.escape(v) for v in values) + ")"
    return FieldType("enum", check, _encode_text, _checked(check), pattern, None)


def field_type(spec: FieldSpec, *, key: bool = False) -> FieldType:
    """The descriptor of a field; ``key=True`` for a key field.  Objects have none (``ValueError``)."""
    if spec.type == "enum":
        return _enum(spec.values)
    if spec.type == "object":
        raise ValueError(f"{spec.name}: an object is not a value type; its members are fields of their own")
    if spec.type == "string" and (key or spec.references is not None):
        return KEY_STRING
    return TYPES[spec.type]
