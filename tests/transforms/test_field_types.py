"""transforms.field_types: one descriptor per field type, and every stage uses it."""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.services.importing.parsing import _column_plan
from tests.transforms.strategies import sample_order as order
from tests.transforms.strategies import values
from transforms.events import InvalidEvent, validate_event, value_checker
from transforms.field_types import FIELD_TYPES, KEY_STRING, TYPES, FieldType, field_type
from transforms.streams import STREAMS, FieldSpec
from transforms.system_one import SystemOneFormatError, read_record, write_record
from transforms.system_one.escaping import unescape
from transforms.system_one.fast import FAST
from transforms.system_one.reader import _read_general
from transforms.system_one.record import LAYOUTS
from transforms.system_one.writer import _LAYOUTS as WRITE_LAYOUTS


def every_field() -> list[tuple[str, FieldSpec, bool]]:
    """(stream, spec, is key) for every value field of every stream, object members included."""
    out = []
    for name, stream in STREAMS.items():
        out += [(name, f, True) for f in stream.key]
        for f in stream.fields:
            out += [(name, sub, False) for sub in f.fields] if f.type == "object" else [(name, f, False)]
    return out


FIELDS = every_field()
IDS = [f"{stream}.{spec.name}" for stream, spec, _key in FIELDS]


def test_every_type_of_streams_json_has_a_descriptor():
    used = {spec.type for _stream, spec, _key in FIELDS}
    assert used <= FIELD_TYPES
    assert set(TYPES) | {"enum", "object"} == FIELD_TYPES
    assert all(isinstance(kind, FieldType) for kind in TYPES.values())


def test_objects_have_no_descriptor():
    billing = next(f for f in STREAMS["customers"].fields if f.type == "object")
    with pytest.raises(ValueError, match="not a value type"):
        field_type(billing)


def test_keys_and_references_are_key_strings():
    orders = STREAMS["orders"]
    assert field_type(orders.key[0], key=True) is KEY_STRING
    customer = next(f for f in orders.fields if f.name == "customerNumber")
    assert customer.references is not None and field_type(customer) is KEY_STRING
    po = next(f for f in orders.fields if f.name == "poNumber")
    assert field_type(po) is TYPES["string"]


@pytest.mark.parametrize(("stream", "spec", "key"), FIELDS, ids=IDS)
def test_every_stage_takes_its_rules_from_the_descriptor(stream, spec, key):
    kind = field_type(spec, key=key)
    # events: the checker is the descriptor's
    assert value_checker(spec, key=key) is kind.check
    # writer: the encoder is the descriptor's
    layout = WRITE_LAYOUTS[stream]
    encoders = {name: encode for name, _prefix, encode in layout.key} if key else {}
    for name, _prefix, encode, obj in layout.data:
        if obj is None:
            encoders[name] = encode
        else:
            encoders.update({sub: sub_encode for sub, _p, sub_encode in obj.subs})
    assert encoders[spec.name] is kind.encode
    # general reader: the decoder is the descriptor's (a plain string has none: its text is its value)
    typed = dict(LAYOUTS[STREAMS[stream].record_type].typed)
    flat = [n for n in typed if n == spec.name or n.endswith("." + spec.name)]
    if kind.decode is None:
        assert not flat
    else:
        assert [typed[n] for n in flat] == [kind.decode]
    # importer: the conversion is the descriptor's
    if not key:
        converters = [convert for _f, sub, _att, convert in _column_plan(stream) if spec.name in (_f, sub)]
        assert converters == [kind.convert]


def test_the_fast_patterns_come_from_the_descriptors():
    pattern = FAST["OLN"].upsert.pattern
    for name in ("quantity", "unitPrice", "imprintColors"):
        spec = next(f for f in STREAMS["order-lines"].fields if f.name == name)
        assert f"\\|{name}={field_type(spec).pattern}" in pattern


@pytest.mark.parametrize(("stream", "spec", "key"), FIELDS, ids=IDS)
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_each_value_survives_every_stage(stream, spec, key, data):
    """check accepts it; encode, then decode (or the fast path) give it back; convert stores it."""
    kind = field_type(spec, key=key)
    value = data.draw(values(spec, key=key))
    kind.check(value, spec.name)
    text = kind.encode(value)
    assert "|" not in text and "=" not in text
    if kind.decode is None:
        decoded = unescape(text)
    elif kind.decode_escaped:
        decoded = kind.decode(text, spec.name)
    else:
        decoded = kind.decode(unescape(text), spec.name)
    assert decoded == value
    match = re.fullmatch(kind.pattern, text)
    if match is not None:  # the fast path takes it: it must agree
        fast = match.group(1)
        if kind.fast_escaped:
            fast = unescape(fast)
        if kind.fast_decode is not None:
            fast = kind.fast_decode(fast)
        assert fast == value
    if kind.convert is not None:
        stored = kind.convert(value)
        assert isinstance(stored, Decimal | date | datetime)


@pytest.mark.parametrize(
    ("kind", "text"),
    [
        ("int", "007"),
        ("int", str(2**63)),
        ("bool", "t"),
        ("string_list", "a;b"),
        ("money", "1.23456"),
        ("date", "2026-02-30"),
        ("timestamp", "2026-11-27T10:15:30"),
        ("code", "usd"),
    ],
)
def test_decode_refuses_what_check_refuses(kind, text):
    descriptor = TYPES[kind]
    assert descriptor.decode is not None
    with pytest.raises(ValueError):
        descriptor.decode(text, "field")
    assert re.fullmatch(descriptor.pattern, text) is None  # the fast path does not take it either


def test_int_bool_and_lists_decode_to_their_values():
    integer, boolean, strings = TYPES["int"], TYPES["bool"], TYPES["string_list"]
    assert integer.decode and boolean.decode and strings.decode and boolean.fast_decode and strings.fast_decode
    assert integer.decode("-42", "n") == -42
    assert boolean.decode("F", "b") is False
    assert strings.decode("a\\s;b;;", "l") == ["a;", "b", ""]
    assert boolean.fast_decode("T") is True
    assert strings.fast_decode("x;\\p;") == ["x", "|"]


# --- a reference holds a key: the reader now applies the key rules the transform applies -------------------


@pytest.mark.parametrize("bad", ["", "C" * 129])
def test_a_reference_that_no_valid_event_has_is_rejected_by_both_reader_paths(bad):
    event = order()
    event["data"]["customerNumber"] = bad
    with pytest.raises(InvalidEvent, match="customerNumber"):
        validate_event(event, "orders")
    line = write_record(event)[:-1]
    with pytest.raises(SystemOneFormatError, match="field customerNumber: is"):
        read_record(line)
    with pytest.raises(SystemOneFormatError, match="field customerNumber: is"):
        _read_general(line)


def test_a_reference_at_the_key_length_is_read():
    event = order()
    event["data"]["customerNumber"] = "C" * 128
    validate_event(event, "orders")
    assert read_record(write_record(event)).to_event() == event
