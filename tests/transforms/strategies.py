"""Hypothesis strategies for VALID System Two events of every stream (reusable by any test).

    from tests.transforms.strategies import events, event_bodies
    @given(events())                       # any stream, upserts and deletes, extras included
    @given(events("order-lines", event_type="upsert", extras=False))
    @given(event_bodies("orders"))         # (event, UTF-8 JSON bytes) pairs

Text fields get arbitrary Unicode (everything but surrogates: NUL, controls, line separators,
pipes, backslashes, emoji...); optional fields are absent, null or set; money has 0-4 decimals
and up to 24 integer digits (plus leading zeros); timestamps use every RFC 3339 variant.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from hypothesis import strategies as st

from ingest.testing.samples import EXAMPLE_EVENT_ID
from transforms.events import ENVELOPE_FIELDS
from transforms.streams import (
    INT_MAX,
    INT_MIN,
    MAX_CODE_LENGTH,
    MAX_KEY_LENGTH,
    MONEY_DECIMAL_PLACES,
    MONEY_MAX_DIGITS,
    STREAM_NAMES,
    STREAMS,
    FieldSpec,
)

ABSENT: Any = object()  # an optional field left out

CHARACTERS = st.characters(exclude_categories=["Cs"])  # any Unicode scalar value but the surrogates
# Text is drawn from everything, and often from the characters the format has to escape.
TRICKY = "|=\\.;\n\r\t\x00\x0b\x0c\x1c\x1d\x1e\x7f\x85\u2028\u2029\ufeff\"'{}[],:N🎉\U0010ffff"
TEXT = st.text(CHARACTERS) | st.text(st.sampled_from(TRICKY) | CHARACTERS, max_size=12)
KEY_TEXT = (
    st.text(CHARACTERS, min_size=1, max_size=MAX_KEY_LENGTH)
    | st.text(st.sampled_from(TRICKY), min_size=1, max_size=8)
    | st.from_regex(r"[A-Z]{2}-[0-9]{1,8}", fullmatch=True)
)
CODES = st.sampled_from(["USD", "EUR", "CAD", "US", "GB", "X-1", "Ü"]) | st.text(
    CHARACTERS, min_size=1, max_size=MAX_CODE_LENGTH
).map(str.upper).filter(lambda s: 0 < len(s) <= MAX_CODE_LENGTH and s == s.upper())
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | TEXT,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(TEXT, children, max_size=3),
    max_leaves=8,
)


@st.composite
def money(draw: st.DrawFn) -> str:
    sign = draw(st.sampled_from(["", "-"]))
    zeros = draw(st.sampled_from(["", "", "", "0", "000"]))
    integer = draw(st.integers(0, 10 ** (MONEY_MAX_DIGITS - MONEY_DECIMAL_PLACES) - 1))
    places = draw(st.integers(0, MONEY_DECIMAL_PLACES))
    fraction = "." + draw(st.text("0123456789", min_size=places, max_size=places)) if places else ""
    return f"{sign}{zeros}{integer}{fraction}"


DATES = st.dates().map(lambda d: d.isoformat())


@st.composite
def timestamps(draw: st.DrawFn) -> str:
    """Every RFC 3339 form: T, t or space; 0-12 fraction digits; Z, z or any offset up to +-23:59."""
    moment = draw(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)))
    separator = draw(st.sampled_from(["T", "T", "t", " "]))
    digits = draw(st.integers(0, 12))
    fraction = "." + draw(st.text("0123456789", min_size=digits, max_size=digits)) if digits else ""
    offset = draw(
        st.sampled_from(["Z", "z", "+00:00", "-00:00"])
        | st.builds(
            lambda sign, h, m: f"{sign}{h:02d}:{m:02d}", st.sampled_from("+-"), st.integers(0, 23), st.integers(0, 59)
        )
    )
    return f"{moment.year:04d}-{moment:%m-%dT%H:%M:%S}".replace("T", separator) + fraction + offset


EVENT_IDS = st.builds(
    lambda u, upper: str(u).upper() if upper else str(u),
    st.uuids(),
    st.booleans(),
)


def values(spec: FieldSpec, *, key: bool = False, extras: bool = True) -> st.SearchStrategy:
    """Valid values of one field (never null: optional handling is the caller's)."""
    kind = spec.type
    if kind == "string":
        return KEY_TEXT if key or spec.references is not None else TEXT
    if kind == "code":
        return CODES
    if kind == "enum":
        return st.sampled_from(spec.values)
    if kind in ("money", "decimal"):
        return money()
    if kind == "date":
        return DATES
    if kind == "timestamp":
        return timestamps()
    if kind == "int":
        return st.integers(INT_MIN, INT_MAX) | st.integers(-3, 1000)
    if kind == "bool":
        return st.booleans()
    if kind == "string_list":
        return st.lists(TEXT, max_size=5)
    if kind == "object":
        return objects(spec, extras=extras)
    raise ValueError(f"no strategy for field type {kind!r}")


def _fill(draw: st.DrawFn, target: dict, fields: tuple[FieldSpec, ...], extras: bool) -> None:
    for f in fields:
        if f.optional:
            value = draw(st.one_of(st.just(ABSENT), st.none(), values(f, extras=extras)))
            if value is not ABSENT:
                target[f.name] = value
        else:
            target[f.name] = draw(values(f, extras=extras))


def _add_extras(draw: st.DrawFn, target: dict, taken: frozenset[str] | set[str]) -> None:
    names = st.one_of(TEXT, st.sampled_from(["x-trace", "billingAddress.line1", "a.b", "+", "@x", "data"]))
    for name, value in draw(st.dictionaries(names, JSON_VALUES, max_size=3)).items():
        if name not in taken:
            target[name] = value


@st.composite
def objects(draw: st.DrawFn, spec: FieldSpec, *, extras: bool = True) -> dict:
    obj: dict = {}
    _fill(draw, obj, spec.fields, extras)
    if extras and draw(st.booleans()):
        _add_extras(draw, obj, {f.name for f in spec.fields})
    return obj


@st.composite
def events(draw: st.DrawFn, stream: str | None = None, *, event_type: str | None = None, extras: bool = True) -> dict:
    """A valid event of ``stream`` (default: any), ``event_type`` upsert/delete (default: either)."""
    name = stream if stream is not None else draw(st.sampled_from(STREAM_NAMES))
    spec = STREAMS[name]
    kind = event_type if event_type is not None else draw(st.sampled_from(["upsert", "upsert", "delete"]))
    key = {f.name: draw(values(f, key=True)) for f in spec.key}
    event: dict = {
        "eventId": draw(EVENT_IDS),
        "stream": name,
        "eventType": kind,
        "occurredAt": draw(timestamps()),
        "version": draw(st.integers(1, INT_MAX) | st.integers(1, 50)),
        "key": key,
    }
    if kind == "upsert":
        data = dict(key)
        _fill(draw, data, spec.fields, extras)
        if extras and draw(st.booleans()):
            _add_extras(draw, data, {f.name for f in spec.all_fields})
        event["data"] = data
    elif draw(st.booleans()):
        event["data"] = None
    if extras and draw(st.booleans()):
        _add_extras(draw, event, ENVELOPE_FIELDS)
    return event


def to_body(event: dict, *, ascii_only: bool = False) -> bytes:
    """The request body System Two would send for ``event``."""
    return json.dumps(event, ensure_ascii=ascii_only).encode("utf-8")


@st.composite
def event_bodies(draw: st.DrawFn, stream: str | None = None, **kwargs: Any) -> tuple[dict, bytes]:
    """(event, body): a valid event and its UTF-8 JSON body (sometimes ASCII-escaped, sometimes indented)."""
    event = draw(events(stream, **kwargs))
    style = draw(st.sampled_from(["raw", "ascii", "indent"]))
    if style == "indent":
        return event, json.dumps(event, indent=2, ensure_ascii=False).encode("utf-8")
    return event, to_body(event, ascii_only=style == "ascii")


EVENT_ID = EXAMPLE_EVENT_ID


def sample_order(**changes: Any) -> dict:
    """One fixed, valid orders event (the contract's example); ``changes`` replace envelope members."""
    event = {
        "eventId": EVENT_ID,
        "stream": "orders",
        "eventType": "upsert",
        "occurredAt": "2026-11-27T10:15:30.123Z",
        "version": 42,
        "key": {"orderNumber": "SO-104233"},
        "data": {
            "orderNumber": "SO-104233",
            "customerNumber": "C-1",
            "orderDate": "2026-11-27",
            "status": "OPEN",
            "currency": "USD",
            "subtotal": "1234.5600",
            "tax": "0",
            "shipping": "-12.5",
            "total": "1222.06",
            "poNumber": None,
            "rush": False,
        },
    }
    event.update(changes)
    return event
