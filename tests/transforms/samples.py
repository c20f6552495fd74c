"""Sample events of the transforms tests (event validation and the System One format), and the
format tests' round-trip check. The customers event and the examples' eventId are the harness's
(ingest.testing.samples)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from ingest.testing.samples import EXAMPLE_EVENT_ID, customer_event
from transforms.events import validate_event
from transforms.system_one import SystemOneRecord, read_record, write_record
from transforms.system_one import reader as reader_module

DOC = Path(__file__).resolve().parents[2] / "docs" / "system-one-format.md"

EVENT_ID = EXAMPLE_EVENT_ID
customer = customer_event


LINE_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"


def order_line(**data: Any) -> dict:
    event: dict[str, Any] = {
        "eventId": EVENT_ID,
        "stream": "order-lines",
        "eventType": "upsert",
        "occurredAt": "2026-11-27T10:15:30.123Z",
        "version": 42,
        "key": {"orderNumber": "SO-104233", "lineNumber": 3},
        "data": {
            "orderNumber": "SO-104233",
            "lineNumber": 3,
            "sku": "JRNL-A5-BLK",
            "description": "A5 hardcover journal, black linen, 240 pages",
            "quantity": 250,
            "unitPrice": "4.1500",
            "extendedPrice": "1037.5000",
            "imprintMethod": "Debossed",
            "imprintColors": ["PMS 286 C", "White"],
        },
    }
    event["data"].update(data)
    return event


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


def line_of(event: dict) -> str:
    return write_record(validate_event(event, event["stream"]))


def assert_round_trip(event: dict) -> SystemOneRecord:
    original = copy.deepcopy(event)
    line = write_record(event)
    assert event == original  # the writer does not touch its input
    assert line.endswith("\n")
    assert line.count("\n") == 1
    assert line[:-1].splitlines() == [line[:-1]] or line == "\n"
    line.encode("utf-8")  # no surrogates
    record = read_record(line)
    assert record.to_event() == original
    assert read_record(line[:-1]) == record  # without its newline
    assert read_record(line[:-1] + "\r\n") == record  # CRLF
    assert read_record(line.encode("utf-8")) == record  # bytes
    # whatever path read_record took, the general path gives the same record
    assert reader_module._read_general(line[:-1]) == record
    return record
