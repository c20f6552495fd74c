"""transforms.events: timestamps, and the stream of a Firehose delivery stream's name."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from transforms.events import (
    InvalidEvent,
    parse_timestamp,
    stream_of_delivery_stream,
)


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
