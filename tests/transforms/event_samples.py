"""Sample System Two events of the event validation tests (transforms.events)."""

from __future__ import annotations

import json

from tests.transforms.strategies import EVENT_ID


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
