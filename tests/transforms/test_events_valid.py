"""transforms.events: what the input contract accepts passes validation unchanged."""

from __future__ import annotations

import copy

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.transforms.samples import body, customer, order_line, shipment
from tests.transforms.strategies import event_bodies, events
from tests.transforms.strategies import sample_order as order
from transforms.events import (
    parse_event,
    validate_event,
)
from transforms.streams import STREAM_NAMES


def test_valid_examples_pass_unchanged():
    for make in (order, customer, order_line, shipment):
        event = make()
        before = copy.deepcopy(event)
        assert validate_event(event, event["stream"]) is event
        assert event == before
        assert parse_event(body(event), event["stream"]) == before


@pytest.mark.slow
@given(event_bodies())
def test_generated_events_are_valid(pair):
    event, raw = pair
    assert parse_event(raw, event["stream"]) == event


def test_delete_without_data_or_with_null_data():
    for data in ("absent", None):
        event = {k: v for k, v in order().items() if k != "data"}
        event["eventType"] = "delete"
        if data is None:
            event["data"] = None
        assert validate_event(event, "orders") == event


def test_extra_fields_everywhere_are_accepted_and_kept():
    event = customer()
    event["traceId"] = {"a": [1, 2.5, None, True, "x"]}
    event["data"]["loyalty"] = "gold"
    event["data"]["billingAddress"]["gateCode"] = "1234"
    event["data"]["billingAddress"]["geo"] = {"lat": 1.5}
    expected = copy.deepcopy(event)
    assert parse_event(body(event), "customers") == expected


def test_optional_fields_may_be_null_or_absent():
    event = order()
    event["data"]["requestedShipDate"] = None
    del event["data"]["poNumber"]
    parsed = parse_event(body(event), "orders")
    assert parsed == event  # kept as sent: the null stays null, the absent field stays absent
    assert parsed["data"]["requestedShipDate"] is None and "poNumber" not in parsed["data"]
    event = customer()
    event["data"]["billingAddress"]["region"] = None
    event["data"]["creditLimit"] = None
    del event["data"]["email"]
    parsed = parse_event(body(event), "customers")
    assert parsed == event
    assert parsed["data"]["creditLimit"] is None and parsed["data"]["billingAddress"]["region"] is None
    assert "email" not in parsed["data"]


def test_text_may_be_any_unicode_or_empty():
    event = order_line()
    event["data"]["description"] = "\x00|=\\\n\r\t\u2028\x85 🎉 \U0010ffff"
    event["data"]["sku"] = ""
    event["data"]["imprintColors"] = ["", "a|b", "🎉"]
    expected = copy.deepcopy(event)
    assert validate_event(event, "order-lines") is event and event == expected
    parsed = parse_event(body(event), "order-lines")
    assert parsed["data"]["description"] == "\x00|=\\\n\r\t\u2028\x85 🎉 \U0010ffff"
    assert parsed["data"]["sku"] == "" and parsed["data"]["imprintColors"] == ["", "a|b", "🎉"]


def test_an_escaped_surrogate_pair_is_fine():
    raw = body(order()).replace(b'"C-1"', b'"C-\\ud83c\\udf89"')
    assert parse_event(raw, "orders")["data"]["customerNumber"] == "C-🎉"


@pytest.mark.parametrize("stream", STREAM_NAMES)
@settings(max_examples=30)
@given(data=st.data())
def test_generated_events_of_every_stream_are_valid(stream, data):
    event = data.draw(events(stream))
    assert validate_event(event, stream) is event
