"""transforms.events: invalid events and bodies are rejected with an error that names the field."""

from __future__ import annotations

import json

import pytest

from tests.transforms.samples import body, customer, order_line, shipment
from tests.transforms.strategies import sample_order as order
from transforms.events import (
    InvalidEvent,
    parse_event,
    validate_event,
)
from transforms.streams import INT_MAX, INT_MIN, MAX_CODE_LENGTH, MAX_KEY_LENGTH


def mutate(make, path: str, value, *, delete: bool = False):
    """A copy of make() with the value at the dotted path replaced (or removed)."""
    event = make()
    target = event
    parts = path.split(".")
    for part in parts[:-1]:
        target = target[part]
    if delete:
        del target[parts[-1]]
    else:
        target[parts[-1]] = value
    return event


GONE = object()


INVALID = [
    # envelope
    ("eventId", order, "eventId", GONE),
    ("eventId", order, "eventId", "not-a-uuid"),
    ("eventId", order, "eventId", "6a0d3c1e58f44c5b9a431c2f7d9e0b11"),
    ("eventId", order, "eventId", "{6a0d3c1e-58f4-4c5b-9a43-1c2f7d9e0b11}"),
    ("eventId", order, "eventId", 12),
    ("stream", order, "stream", "customers"),
    ("stream", order, "stream", GONE),
    ("stream", order, "stream", None),
    ("eventType", order, "eventType", "update"),
    ("eventType", order, "eventType", "UPSERT"),
    ("eventType", order, "eventType", GONE),
    ("occurredAt", order, "occurredAt", "2026-11-27T10:15:30"),
    ("occurredAt", order, "occurredAt", "2026-11-27"),
    ("occurredAt", order, "occurredAt", 1764238530),
    ("version", order, "version", 0),
    ("version", order, "version", -1),
    ("version", order, "version", True),
    ("version", order, "version", 1.0),
    ("version", order, "version", "42"),
    ("version", order, "version", INT_MAX + 1),
    ("version", order, "version", GONE),
    ("key", order, "key", GONE),
    ("key", order, "key", "SO-1"),
    ("key", order, "key", {}),
    ("key", order, "key", {"orderNumber": "SO-104233", "extra": 1}),
    ("key", order_line, "key", {"orderNumber": "SO-1"}),
    ("key.orderNumber", order, "key.orderNumber", ""),
    ("key.orderNumber", order, "key.orderNumber", 104233),
    ("key.orderNumber", order, "key.orderNumber", "x" * (MAX_KEY_LENGTH + 1)),
    ("key.lineNumber", order_line, "key.lineNumber", "1"),
    ("key.lineNumber", order_line, "key.lineNumber", 1.0),
    ("key.lineNumber", order_line, "key.lineNumber", INT_MAX + 1),
    ("data", order, "data", GONE),
    ("data", order, "data", None),
    ("data", order, "data", [1]),
    # key / data agreement
    ("data.orderNumber", order, "data.orderNumber", "SO-999"),
    ("data.orderNumber", order, "data.orderNumber", GONE),
    ("data.lineNumber", order_line, "data.lineNumber", 2),
    ("data.lineNumber", order_line, "data.lineNumber", True),
    # required fields
    ("data.customerNumber", order, "data.customerNumber", GONE),
    ("data.customerNumber", order, "data.customerNumber", None),
    ("data.billingAddress", customer, "data.billingAddress", None),
    ("data.billingAddress", customer, "data.billingAddress", "1 Main"),
    ("data.billingAddress.city", customer, "data.billingAddress.city", GONE),
    ("data.billingAddress.countryCode", customer, "data.billingAddress.countryCode", "us"),
    # types
    ("data.customerNumber", order, "data.customerNumber", 7),
    ("data.subtotal", order, "data.subtotal", 1234.56),
    ("data.subtotal", order, "data.subtotal", 1234),
    ("data.subtotal", order, "data.subtotal", "1234.56789"),
    ("data.subtotal", order, "data.subtotal", "1,234.56"),
    ("data.subtotal", order, "data.subtotal", "1e3"),
    ("data.subtotal", order, "data.subtotal", "+1"),
    ("data.subtotal", order, "data.subtotal", ".5"),
    ("data.subtotal", order, "data.subtotal", "5."),
    ("data.subtotal", order, "data.subtotal", " 5"),
    ("data.subtotal", order, "data.subtotal", "\u0661\u0662"),  # Arabic-Indic digits
    ("data.subtotal", order, "data.subtotal", "1" * 25),
    ("data.subtotal", order, "data.subtotal", ""),
    ("data.orderDate", order, "data.orderDate", "2026-02-30"),
    ("data.orderDate", order, "data.orderDate", "2026-1-05"),
    ("data.orderDate", order, "data.orderDate", "20260105"),
    ("data.orderDate", order, "data.orderDate", "2026-W01-1"),
    ("data.orderDate", order, "data.orderDate", "2026-11-27T00:00:00Z"),
    ("data.orderDate", order, "data.orderDate", "0000-01-01"),
    ("data.status", order, "data.status", "open"),
    ("data.status", order, "data.status", "DONE"),
    ("data.status", order, "data.status", ["OPEN"]),
    ("data.currency", order, "data.currency", "usd"),
    ("data.currency", order, "data.currency", ""),
    ("data.currency", order, "data.currency", "X" * (MAX_CODE_LENGTH + 1)),
    ("data.rush", order, "data.rush", 0),
    ("data.rush", order, "data.rush", "true"),
    ("data.rush", order, "data.rush", None),
    ("data.quantity", order_line, "data.quantity", 2.0),
    ("data.quantity", order_line, "data.quantity", "2"),
    ("data.quantity", order_line, "data.quantity", False),
    ("data.quantity", order_line, "data.quantity", INT_MIN - 1),
    ("data.imprintColors", order_line, "data.imprintColors", "red"),
    ("data.imprintColors", order_line, "data.imprintColors", None),
    ("data.imprintColors[1]", order_line, "data.imprintColors", ["red", 2]),
    ("data.shippedAt", shipment, "data.shippedAt", "2026-11-27T10:15:60Z"),
    ("data.weightLb", shipment, "data.weightLb", 12.25),
    ("data.description", order_line, "data.description", "bad \ud800 text"),
    ("data.imprintColors[0]", order_line, "data.imprintColors", ["\udfff"]),
    ("data.billingAddress.line1", customer, "data.billingAddress.line1", "\ud83d"),
]


@pytest.mark.parametrize(("where", "make", "path", "value"), INVALID)
def test_invalid_events_name_the_field(where, make, path, value):
    event = mutate(make, path, value, delete=value is GONE)
    with pytest.raises(InvalidEvent) as error:
        validate_event(event, make()["stream"])
    assert str(error.value).startswith(where), str(error.value)


def test_delete_with_data_is_invalid():
    event = order()
    event["eventType"] = "delete"
    with pytest.raises(InvalidEvent, match=r"^data: a delete must have no data"):
        validate_event(event, "orders")


def test_stream_must_match_the_argument_and_be_known():
    with pytest.raises(InvalidEvent, match="stream: is 'orders', but this is the 'customers' stream"):
        validate_event(order(), "customers")
    with pytest.raises(InvalidEvent, match="unknown stream"):
        validate_event(order(), "payments")


def test_lone_surrogates_are_rejected_even_in_extras():
    for where in ("envelope", "data", "name"):
        event = order()
        if where == "envelope":
            event["x"] = "\ud800"
        elif where == "data":
            event["data"]["x"] = ["ok", {"y": "\udc00"}]
        else:
            event["data"]["\ud800"] = 1
        with pytest.raises(InvalidEvent, match="surrogate"):
            validate_event(event, "orders")
    # json.loads makes them from \u escapes; parse_event must reject the body
    raw = body(order()).replace(b'"C-1"', b'"C-\\ud800"')
    with pytest.raises(InvalidEvent, match=r"data\.customerNumber: contains the lone surrogate U\+D800"):
        parse_event(raw, "orders")


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "body is not JSON"),
        (b"{", "body is not JSON"),
        (b"[]", "body must be a JSON object"),
        (b'"x"', "body must be a JSON object"),
        (b"null", "body must be a JSON object"),
        (b"\xff\xfe{}", "body is not UTF-8"),
        (b'{"a": "\xc3\x28"}', "body is not UTF-8"),
        (b'{"a": "\xed\xa0\x80"}', "body is not UTF-8"),  # an encoded surrogate is not UTF-8
        (b"\xef\xbb\xbf{}", "body is not JSON"),  # a BOM
        (b'{"a": NaN}', "NaN is not a JSON number"),
        (b'{"a": Infinity}', "Infinity is not a JSON number"),
        (b'{"a": -Infinity}', "-Infinity is not a JSON number"),
        (body(order())[:-1] + b', "big": 1e400}', r"big: is a number out of range \(not finite\)"),
        (b"[" * 100000 + b"]" * 100000, "body"),
    ],
)
def test_bad_bodies(raw, reason):
    with pytest.raises(InvalidEvent, match=reason):
        parse_event(raw, "orders")


def test_extras_must_not_nest_absurdly_deep():
    event = order()
    event["deep"] = json.loads("[" * 150 + "]" * 150)
    with pytest.raises(InvalidEvent, match="nests deeper"):
        validate_event(event, "orders")


@pytest.mark.parametrize("value", ["", "C" * 129])
def test_a_reference_obeys_the_key_rules(value):
    event = order()
    event["data"]["customerNumber"] = value
    with pytest.raises(InvalidEvent, match="customerNumber"):
        validate_event(event, "orders")
