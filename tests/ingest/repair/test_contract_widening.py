"""A widened type and a new enum value, end to end: events the old contract rejects land in Firehose's
error output (the real transform, the local Firehose stand-in, moto S3), are listed on the contract
drift page, the contract is widened (test-only change: order-lines.quantity int -> decimal with its
column, orders.status gains ON_HOLD), ``redrive`` loads them, and the tables equal the fold of
every event."""

from __future__ import annotations

import uuid

import pytest
from django.db import models

from ingest.models import FailedRecord, FailedRecordStatus, ImportStatus
from ingest.services.importing.run import import_file
from ingest.services.intake.error_output import register_error_object
from ingest.services.intake.registration import S3Object, register_s3_object
from ingest.services.observing.contract_drift import rejected_groups
from ingest.services.repair.adopt_field import adopt_field
from ingest.services.repair.redrive import redrive
from ingest.testing.aws import ERROR_PREFIX, aws_clients, keys, new_bucket
from ingest.testing.comparator import differences
from ingest.testing.contract import contract_change, field_entry
from ingest.testing.failed_records import land_rejected
from ingest.testing.oracle import expected_state
from transforms.handler import lambda_handler
from transforms.streams import MONEY_DECIMAL_PLACES, MONEY_MAX_DIGITS, STREAMS
from website.models import Order, OrderLine

pytestmark = pytest.mark.django_db(transaction=True)


def order(number: str, status: str, version: int = 1) -> dict:
    return {
        "eventId": str(uuid.uuid4()),
        "stream": "orders",
        "eventType": "upsert",
        "occurredAt": f"2026-11-27T10:00:0{version}Z",
        "version": version,
        "key": {"orderNumber": number},
        "data": {
            "orderNumber": number,
            "customerNumber": "C-1",
            "orderDate": "2026-11-20",
            "status": status,
            "currency": "USD",
            "subtotal": "10",
            "tax": "0",
            "shipping": "0",
            "total": "10",
            "rush": False,
        },
    }


def line(number: str, n: int, quantity: object, version: int = 1) -> dict:
    return {
        "eventId": str(uuid.uuid4()),
        "stream": "order-lines",
        "eventType": "upsert",
        "occurredAt": f"2026-11-27T10:00:0{version}Z",
        "version": version,
        "key": {"orderNumber": number, "lineNumber": n},
        "data": {
            "orderNumber": number,
            "lineNumber": n,
            "sku": "JRN",
            "description": "journal",
            "quantity": quantity,
            "unitPrice": "1",
            "extendedPrice": "1",
            "imprintColors": [],
        },
    }


def widen(document: dict) -> None:
    field_entry(document, "order-lines", "quantity")["type"] = "decimal"
    field_entry(document, "orders", "status")["values"].append("ON_HOLD")


def widened_columns() -> dict:
    quantity = models.DecimalField(
        max_digits=MONEY_MAX_DIGITS, decimal_places=MONEY_DECIMAL_PLACES, null=True, blank=True
    )
    return {"OrderLine": {"quantity": quantity}}


def _land_and_register(s3, bucket: str, events: list[dict]) -> None:
    land_rejected(bucket, events, transform=lambda_handler)
    for prefix in ("orders/", "order-lines/"):
        for obj in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []):
            f, _ = register_s3_object(S3Object(bucket, obj["Key"], obj["ETag"], obj["Size"]), registered_by="command")
            assert import_file(f.pk).status == ImportStatus.IMPORTED
    for key in keys(s3, bucket, ERROR_PREFIX):
        head = s3.head_object(Bucket=bucket, Key=key)
        register_error_object(bucket, key, etag=head["ETag"], size=head["ContentLength"])


def test_widened_type_and_new_enum_value_are_redriven_into_rows_equal_to_the_fold(aws, settings):
    s3 = aws_clients(aws)[0]
    settings.INGEST_BUCKET = bucket = new_bucket(s3)
    accepted = [
        order("SO-1", "OPEN"),
        order("SO-2", "OPEN"),
        line("SO-1", 1, 3),
        line("SO-1", 2, 250),
    ]
    rejected = [
        order("SO-2", "ON_HOLD", version=2),  # a newer version the old contract refuses
        order("SO-3", "ON_HOLD"),
        line("SO-1", 1, "2.5", version=2),  # quantity became a decimal string
        line("SO-1", 3, "0.25"),
    ]
    _land_and_register(s3, bucket, accepted + rejected)
    assert FailedRecord.objects.filter(status=FailedRecordStatus.REJECTED).count() == 4
    assert Order.objects.get(order_number="SO-2").status == "OPEN"

    # The drift page's view of them: one line per field and reason.
    [status_group] = rejected_groups("orders")
    assert (status_group.field, status_group.count) == ("data.status", 2) and "ON_HOLD" in status_group.reason
    [quantity_group] = rejected_groups("order-lines")
    assert (quantity_group.field, quantity_group.count) == ("data.quantity", 2)
    assert quantity_group.reason == "must be an integer, got a string"

    with contract_change(widen, columns=widened_columns()):
        assert STREAMS["order-lines"].fields[2].type == "decimal"
        # Nothing was stored as an extra: adopting the widened field finds nothing to fill.
        assert adopt_field("order-lines", "quantity").found == 0
        report = redrive(enqueue=lambda pk: None)
        assert (report.passed, report.still_failing) == (4, 0)
        for file_id in report.files:
            assert import_file(file_id).status == ImportStatus.IMPORTED
        assert differences(expected_state(accepted + rejected)) == []
        assert OrderLine.objects.get(order_id="SO-1", line_number=1).quantity == 2.5
        assert OrderLine.objects.get(order_id="SO-1", line_number=2).quantity == 250
        assert Order.objects.get(order_number="SO-2").status == "ON_HOLD"
        assert rejected_groups("orders") == [] and rejected_groups("order-lines") == []
        assert not FailedRecord.objects.filter(status=FailedRecordStatus.REJECTED).exists()
