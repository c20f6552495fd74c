"""transforms.events: validation of System Two events against the input contract."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.transforms.strategies import EVENT_ID, event_bodies, events
from tests.transforms.strategies import sample_order as order
from transforms.events import (
    InvalidEvent,
    parse_event,
    parse_timestamp,
    stream_of_delivery_stream,
    validate_event,
)
from transforms.streams import INT_MAX, INT_MIN, MAX_CODE_LENGTH, MAX_KEY_LENGTH, STREAM_NAMES


def customer() -> dict:
    return {
        "eventId": EVENT_ID,
        "stream": "customers",
        "eventType": "upsert",
        "occurredAt": "2026-11-27T10:15:30+02:00",
        "version": 1,
        "key": {"customerNumber": "C-1"},
        "data": {
            "customerNumber": "C-1",
            "name": "Ann",
            "status": "ACTIVE",
            "currency": "USD",
            "billingAddress": {"line1": "1 Main", "city": "X", "countryCode": "US"},
        },
    }


def order_line() -> dict:
    return {
        "eventId": EVENT_ID,
        "stream": "order-lines",
        "eventType": "upsert",
        "occurredAt": "2026-11-27T10:15:30Z",
        "version": 3,
        "key": {"orderNumber": "SO-1", "lineNumber": 1},
        "data": {
            "orderNumber": "SO-1",
            "lineNumber": 1,
            "sku": "A",
            "description": "",
            "quantity": 2,
            "unitPrice": "1",
            "extendedPrice": "2",
            "imprintColors": [],
        },
    }


def shipment() -> dict:
    return {
        "eventId": EVENT_ID,
        "stream": "shipments",
        "eventType": "upsert",
        "occurredAt": "2026-11-27T10:15:30Z",
        "version": 3,
        "key": {"shipmentNumber": "SH-1"},
        "data": {
            "shipmentNumber": "SH-1",
            "orderNumber": "SO-1",
            "carrier": "UPS",
            "trackingNumbers": ["1Z"],
            "shippedAt": "2026-11-27T10:15:30.5-05:00",
            "status": "SHIPPED",
            "packageCount": 1,
            "weightLb": "12.25",
        },
    }


def body(event: dict) -> bytes:
    return json.dumps(event).encode()


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
    validate_event(event, "orders")
    event = customer()
    event["data"]["billingAddress"]["region"] = None
    event["data"]["creditLimit"] = None
    validate_event(event, "customers")


def test_text_may_be_any_unicode_or_empty():
    event = order_line()
    event["data"]["description"] = "\x00|=\\\n\r\t\u2028\x85 🎉 \U0010ffff"
    event["data"]["sku"] = ""
    event["data"]["imprintColors"] = ["", "a|b", "🎉"]
    validate_event(event, "order-lines")


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


def test_an_escaped_surrogate_pair_is_fine():
    raw = body(order()).replace(b'"C-1"', b'"C-\\ud83c\\udf89"')
    assert parse_event(raw, "orders")["data"]["customerNumber"] == "C-🎉"


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


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-27T10:15:30Z", datetime(2026, 11, 27, 10, 15, 30, tzinfo=UTC)),
        ("2026-11-27t10:15:30z", datetime(2026, 11, 27, 10, 15, 30, tzinfo=UTC)),
        ("2026-11-27 10:15:30.5+02:00", datetime(2026, 11, 27, 10, 15, 30, 500000, timezone(timedelta(hours=2)))),
        (
            "2026-11-27T10:15:30.123456789-05:30",
            datetime(2026, 11, 27, 10, 15, 30, 123456, timezone(-timedelta(hours=5, minutes=30))),
        ),
        ("2026-11-27T10:15:30-00:00", datetime(2026, 11, 27, 10, 15, 30, tzinfo=UTC)),
        (
            "2024-02-29T23:59:59+23:59",
            datetime(2024, 2, 29, 23, 59, 59, tzinfo=timezone(timedelta(hours=23, minutes=59))),
        ),
        ("0001-01-01T00:00:00Z", datetime(1, 1, 1, tzinfo=UTC)),
        ("9999-12-31T23:59:59.999999Z", datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)),
    ],
)
def test_parse_timestamp(text, expected):
    parsed = parse_timestamp(text)
    assert parsed == expected
    assert parsed.utcoffset() == expected.utcoffset()


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-27T10:15:30",  # no offset
        "2026-11-27T10:15Z",  # no seconds
        "2026-11-27T10:15:60Z",  # leap second
        "2026-11-27T24:00:00Z",
        "2026-11-27T10:60:00Z",
        "2026-02-29T10:00:00Z",  # not a leap year
        "2026-13-01T10:00:00Z",
        "2026-11-27T10:15:30.Z",
        "2026-11-27T10:15:30+0200",
        "2026-11-27T10:15:30+02",
        "2026-11-27T10:15:30+24:00",
        "2026-11-27T10:15:30+02:60",
        "2026-11-27_10:15:30Z",
        "20261127T101530Z",
        " 2026-11-27T10:15:30Z",
        "2026-11-27T10:15:30Z ",
        "0000-01-01T00:00:00Z",
        "0001-01-01T00:00:00+01:00",  # before year 1 in UTC
        "9999-12-31T23:00:00-02:00",  # after year 9999 in UTC
        "\uff12\uff10\uff12\uff16-11-27T10:15:30Z",  # full-width digits
    ],
)
def test_parse_timestamp_rejects(text):
    with pytest.raises(InvalidEvent):
        parse_timestamp(text)


@pytest.mark.parametrize(
    ("name", "stream"),
    [
        ("arn:aws:firehose:us-east-1:123456789012:deliverystream/pre-prod-order-lines", "order-lines"),
        ("arn:aws:firehose:us-east-1:123456789012:deliverystream/prod-orders", "orders"),
        ("prod-orders", "orders"),
        ("x-invoice-lines", "invoice-lines"),
        ("dev-2-shipping-addresses", "shipping-addresses"),
        ("a-b-c-virtual-requests", "virtual-requests"),
        ("prod-estimates", "estimates"),
        ("prod-customers", "customers"),
        ("prod-invoices", "invoices"),
        ("prod-shipments", "shipments"),
        ("qa-lines-order-lines", "order-lines"),
    ],
)
def test_stream_of_delivery_stream(name, stream):
    assert stream_of_delivery_stream(name) == stream


@pytest.mark.parametrize(
    "name",
    [
        "orders",
        "-orders",
        "prod-payments",
        "prod_orders",
        "",
        "arn:aws:firehose:us-east-1:1:deliverystream/lines",
        None,
    ],
)
def test_stream_of_delivery_stream_rejects(name):
    with pytest.raises(ValueError):
        stream_of_delivery_stream(name)


@pytest.mark.parametrize("stream", STREAM_NAMES)
@settings(max_examples=30)
@given(data=st.data())
def test_generated_events_of_every_stream_are_valid(stream, data):
    event = data.draw(events(stream))
    assert validate_event(event, stream) is event


@pytest.mark.parametrize("value", ["", "C" * 129])
def test_a_reference_obeys_the_key_rules(value):
    event = order()
    event["data"]["customerNumber"] = value
    with pytest.raises(InvalidEvent, match="customerNumber"):
        validate_event(event, "orders")
