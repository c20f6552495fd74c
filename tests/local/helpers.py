"""Helpers of the local import API and Firehose stand-in tests."""

from __future__ import annotations

import gzip
import json
import time
import uuid
from collections.abc import Callable

from transforms.events import parse_event


def keys(s3, bucket: str, prefix: str = "") -> list[str]:
    response = s3.list_objects_v2(Bucket=bucket, Prefix=prefix)
    return sorted(o["Key"] for o in response.get("Contents", []))


def raw_object(s3, bucket: str, key: str) -> bytes:
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()


def read_gzip(s3, bucket: str, key: str) -> bytes:
    return gzip.decompress(raw_object(s3, bucket, key))


def wait_for(predicate: Callable[[], object], timeout: float = 10.0, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout}s")
        time.sleep(interval)


def order_event(number: str = "SO-1", version: int = 1, **data) -> dict:
    """A valid event of the orders stream (checked against the contract's validation)."""
    event = {
        "eventId": str(uuid.uuid4()),
        "stream": "orders",
        "eventType": "upsert",
        "occurredAt": "2026-11-27T10:15:30.123Z",
        "version": version,
        "key": {"orderNumber": number},
        "data": {
            "orderNumber": number,
            "customerNumber": "C-1",
            "orderDate": "2026-11-27",
            "status": "OPEN",
            "currency": "USD",
            "subtotal": "10.00",
            "tax": "0.70",
            "shipping": "1.00",
            "total": "11.70",
            "poNumber": None,
            "requestedShipDate": None,
            "rush": False,
            **data,
        },
    }
    return event


def order_line_event(number: str = "SO-1", line: int = 1) -> dict:
    return {
        "eventId": str(uuid.uuid4()),
        "stream": "order-lines",
        "eventType": "upsert",
        "occurredAt": "2026-11-27T10:15:30Z",
        "version": 1,
        "key": {"orderNumber": number, "lineNumber": line},
        "data": {
            "orderNumber": number,
            "lineNumber": line,
            "sku": "JRN-100",
            "description": "Linen journal, gold foil",
            "quantity": 2,
            "unitPrice": "5.00",
            "extendedPrice": "10.00",
            "imprintMethod": None,
            "imprintColors": ["GOLD"],
        },
    }


def checked(event: dict) -> dict:
    parse_event(json.dumps(event).encode(), event["stream"])
    return event
