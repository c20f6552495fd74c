"""Sample content: valid System Two events, the files Firehose would write of them (GZIP'd
System One records under its key layout), and the S3 notifications that announce them."""

from __future__ import annotations

import gzip
import json
import uuid
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from transforms.events import parse_event, validate_event
from transforms.system_one.writer import write_record

# The eventId of the contract's examples: fixed, so that a sample's System One line is known.
EXAMPLE_EVENT_ID = "6a0d3c1e-58f4-4c5b-9a43-1c2f7d9e0b11"


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


def customer_event(number: str = "C-1", name: str = "Acme") -> dict:
    """A valid upsert of the customers stream, its optional fields null and ``occurredAt`` with an
    offset, under the examples' eventId."""
    key = {"customerNumber": number}
    return {
        "eventId": EXAMPLE_EVENT_ID,
        "stream": "customers",
        "eventType": "upsert",
        "occurredAt": "2026-11-27T10:15:30+02:00",
        "version": 1,
        "key": key,
        "data": {
            **key,
            "name": name,
            "email": None,
            "status": "ACTIVE",
            "currency": "USD",
            "billingAddress": {"line1": "1 Main", "line2": None, "city": "X", "countryCode": "US"},
        },
    }


def checked(event: dict) -> dict:
    """``event``, once the contract's validation of a request body has accepted it."""
    parse_event(json.dumps(event).encode(), event["stream"])
    return event


def order_events(count: int, *, start: int = 0, run: str = "", customers: int = 10) -> list[dict]:
    """``count`` valid upserts of distinct orders (``SO-{run}{n}``), so that rows == lines."""
    events = []
    for n in range(start, start + count):
        event = order_event(
            f"SO-{run}{n:07d}",
            customerNumber=f"C-{n % customers:04d}",
            subtotal="100.00",
            tax="8.25",
            shipping="12.5",
            total="120.75",
            rush=n % 2 == 0,
        )
        del event["data"]["poNumber"], event["data"]["requestedShipDate"]
        events.append(validate_event(event, "orders"))
    return events


def orders_at(occurred: list[datetime], *, run: str, version: int = 1, delete: bool = False) -> list[dict]:
    """Valid orders events, one per ``occurredAt``, keys ``SO-{run}{n}``."""
    out = []
    for n, when in enumerate(occurred):
        [event] = order_events(1, start=n, run=run)
        event = dict(event, occurredAt=when.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z", version=version)
        event["eventId"] = str(uuid.uuid4())
        if delete:
            event["eventType"] = "delete"
            event.pop("data")
        out.append(validate_event(event, "orders"))
    return out


def invalid_order(n: int) -> dict:
    """An orders event the contract rejects (no version), whatever the transform's release."""
    [event] = order_events(1, start=n, run="bad")
    event = dict(event)
    event.pop("version")
    return event


def firehose_body(events: list[dict]) -> bytes:
    """What Firehose writes: the transform's System One lines concatenated, GZIP'd."""
    return gzip.compress("".join(write_record(e) for e in events).encode(), compresslevel=1)


def firehose_key(stream: str = "orders", when: datetime | None = None, *, name: str = "") -> str:
    """``{stream}/YYYY/MM/dd/HH/{deliveryStreamName}-{version}-YYYY-MM-DD-HH-MM-SS-{uuid}``."""
    when = when or datetime.now(UTC)
    return f"{stream}/{when:%Y/%m/%d/%H}/{name or 'e2e-' + stream}-1-{when:%Y-%m-%d-%H-%M-%S}-{uuid.uuid4()}"


def write_files(events: list[dict], folder: Path, *, per_file: int = 25, compress: bool = True) -> list[Path]:
    """Firehose-shaped local files: per stream, records concatenated (newline-terminated), GZIP'd;
    the events marked ``_invalid`` are left out."""
    by_stream: dict[str, list[dict]] = defaultdict(list)
    for event in events:
        if "_invalid" not in event:
            by_stream[event["stream"]].append(event)
    paths = []
    for stream, stream_events in by_stream.items():
        for n, start in enumerate(range(0, len(stream_events), per_file)):
            payload = "".join(write_record(e) for e in stream_events[start : start + per_file]).encode()
            path = folder / stream / "2026" / "11" / "27" / "10" / f"local-{stream}-1-2026-11-27-10-00-00-{n:04d}"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(gzip.compress(payload) if compress else payload)
            paths.append(path)
    return paths


def notification_body(
    bucket: str, key: str, etag: str, size: int, *, event_time: str | None = None, sequencer: str = ""
) -> str:
    """An S3 notification as AWS sends it (key URL-encoded with ``+`` for spaces)."""
    from urllib.parse import quote_plus

    record: dict[str, Any] = {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": "us-east-1",
        "eventTime": event_time or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
        "eventName": "ObjectCreated:Put",
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "ingest-orders",
            "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
            "object": {"key": quote_plus(key, safe="/"), "size": size, "eTag": etag},
        },
    }
    if sequencer:
        record["s3"]["object"]["sequencer"] = sequencer
    return json.dumps({"Records": [record]})
