"""transforms.system_one: the fast and the general reader agree, on good lines and on damaged ones."""

from __future__ import annotations

import re

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tests.transforms.samples import assert_round_trip, customer, order_line
from tests.transforms.strategies import events
from transforms.events import validate_event
from transforms.streams import STREAM_NAMES, STREAMS
from transforms.system_one import SystemOneFormatError, read_record, write_record
from transforms.system_one import reader as reader_module
from transforms.system_one.fast import FAST


def matched(pattern: re.Pattern[str], line: str) -> re.Match[str]:
    """The fast path's match of a line it must take."""
    match = pattern.fullmatch(line)
    assert match is not None, line
    return match


@pytest.mark.slow
@pytest.mark.parametrize("stream", STREAM_NAMES)
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_round_trip_every_stream(stream, data):
    event = data.draw(events(stream))
    validate_event(event, stream)
    record = assert_round_trip(event)
    assert record.stream == stream
    assert record.record_type == STREAMS[stream].record_type
    assert record.event_type == event["eventType"]
    assert record.key == event["key"]
    assert record.data == event.get("data")


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(events())
@example(order_line())
@example(customer())
def test_fast_path_agrees_with_the_general_path(event):
    line = write_record(event)[:-1]
    assert read_record(line) == reader_module._read_general(line)


MUTATION_CHARS = '|=\\N;.+@-0123456789TFZ:"{}[] ax\n\r\x85'


@st.composite
def mutated_lines(draw: st.DrawFn) -> str:
    """A written line with a few random edits: often still valid, often subtly not."""
    line = write_record(draw(events(extras=draw(st.booleans()))))[:-1]
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(line)))
        kind = draw(st.sampled_from(["insert", "delete", "replace", "cut"]))
        text = draw(st.text(st.sampled_from(MUTATION_CHARS), min_size=1, max_size=3))
        if kind == "insert":
            line = line[:at] + text + line[at:]
        elif kind == "delete":
            line = line[:at] + line[at + 1 :]
        elif kind == "replace":
            line = line[:at] + text + line[at + len(text) :]
        else:
            end = draw(st.integers(at, len(line)))
            line = line[:at] + line[end:]
    return line


@pytest.mark.slow
@settings(max_examples=500, deadline=None)
@given(mutated_lines())
def test_reader_paths_agree_on_damaged_lines_and_accept_only_valid_events(line):
    """Both paths accept the same lines with the same result, and only lines of valid events."""
    try:
        # read_record drops one "\n" and then one "\r" before choosing a path; _read_general expects that done
        general = reader_module._read_general(line.removesuffix("\n").removesuffix("\r"))
    except SystemOneFormatError:
        general = None
    try:
        record = read_record(line)
    except SystemOneFormatError:
        record = None
    assert record == general
    if record is not None:
        event = record.to_event()
        validate_event(event, record.stream)
        assert read_record(write_record(event)) == record


def test_typical_lines_take_the_fast_path():
    fast = FAST["OLN"]
    line = write_record(order_line())[:-1]
    match = fast.upsert.fullmatch(line)
    assert match is not None
    assert fast.read_upsert(match, line) == reader_module._read_general(line)
    escaped = write_record(order_line(description="a|b=c\nd", imprintMethod=None, imprintColors=["x;y", ""]))[:-1]
    assert fast.read_upsert(matched(fast.upsert, escaped), escaped) is not None
    delete = {k: v for k, v in order_line().items() if k != "data"} | {"eventType": "delete"}
    delete_line = write_record(delete)[:-1]
    assert fast.read_delete(matched(fast.delete, delete_line), delete_line) == read_record(delete_line)
    customer_line = write_record(customer())[:-1]
    assert FAST["CUS"].upsert.fullmatch(customer_line) is not None
    # extras (written last) stay on the fast path
    extra = customer() | {"traceId": "t|1"}
    extra["data"] = extra["data"] | {"loyalty": {"tier": 2}}
    extra["data"]["billingAddress"] = extra["data"]["billingAddress"] | {"gate.code": "12=34"}
    extra_line = write_record(extra)[:-1]
    fast_customer = FAST["CUS"]
    record = fast_customer.read_upsert(matched(fast_customer.upsert, extra_line), extra_line)
    assert record is not None and record.to_event() == extra
    null_delete = write_record(delete | {"data": None, "x": [1]})[:-1]
    record = fast.read_delete(matched(fast.delete, null_delete), null_delete)
    assert record is not None and record.data_null and record.extras == {"x": [1]}
