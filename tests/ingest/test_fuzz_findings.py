"""Defects the fuzzing suite (tests/fuzz/) found, each pinned by a plain test.

* The contract allows a timestamp offset up to 23:59; PostgreSQL refuses any beyond 15:59, and the
  loader handed it the text (or a datetime in that offset): the whole file failed with
  "time zone displacement out of range". Timestamps now reach PostgreSQL in UTC.
* A message body whose JSON holds a lone surrogate (``"\\ud800"``) could not be recorded as a
  UnreadableMessage on PostgreSQL (not UTF-8): the consumer raised and the message looped."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest
from django.db import connection

from ingest.models import UnreadableMessage
from ingest.services.importing.line_errors import storable_text
from ingest.services.importing.run import import_file
from ingest.services.intake.consumer import ConsumerOptions, EventConsumer
from ingest.services.intake.registration import register_local_file
from ingest.testing.samples import checked, order_event
from transforms.system_one.writer import write_record
from website.models import Order

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("offset", ["+16:00", "+23:59", "-23:04", "+15:59"])
def test_an_offset_postgresql_does_not_take_does_not_fail_the_file(tmp_path, offset):
    event = order_event("SO-OFF", requestedShipDate=None)
    event["occurredAt"] = f"2026-11-27T10:00:00{offset}"
    lines = [write_record(checked(order_event("SO-A"))), write_record(checked(event))]
    path = tmp_path / "orders" / "offsets"
    path.parent.mkdir(parents=True)
    path.write_text("".join(lines))
    f, _ = register_local_file(path)
    outcome = import_file(f.pk, trigger="test")
    assert outcome.status == "imported", outcome
    stored = Order.objects.get(order_number="SO-OFF").source_occurred_at
    expected = datetime.fromisoformat(event["occurredAt"]).astimezone(UTC)
    assert stored == expected


def test_a_lone_surrogate_in_a_message_is_recorded_not_looped():
    body = json.dumps({"Records": [{"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": "\ud800"}}}]})
    assert "\\ud800" in body  # JSON's escape: what a body can carry
    consumer = EventConsumer(
        ConsumerOptions(queue_url="https://sqs.example/q", wait_time_seconds=0, sweep_interval=0),
        sqs=object(),
        enqueue=lambda pk: None,
    )
    message_id = uuid.uuid4().hex
    result = consumer.handle({"MessageId": message_id, "ReceiptHandle": "r", "Body": body}, delete=False)
    assert result.deleted and result.rejected
    assert UnreadableMessage.objects.filter(message_id=message_id).exists()


def test_storable_text_escapes_nul_and_lone_surrogates():
    assert storable_text("a\x00b\ud800c\U0001f600") == "a\\x00b\\ud800c\U0001f600"
    assert storable_text("plain") == "plain"


def test_a_nul_in_an_admin_search_is_a_400_not_a_500(admin_client):
    """Found by tests/fuzz/test_admin_params.py: on PostgreSQL a search for text with U+0000 raised."""
    assert admin_client.get("/admin/ingest/importfile/", {"q": "a\x00b"}).status_code == 400
    assert admin_client.get("/admin/ingest/importfile/", {"status__exact\x00": "x"}).status_code == 400
    assert admin_client.get("/admin/ingest/importfile/", {"q": "ab"}).status_code == 200


def test_a_filter_value_out_of_range_is_a_400_not_a_500(admin_client):
    """Found by tests/fuzz/test_admin_params.py: an id past 2**63-1 overflowed the database."""
    response = admin_client.get("/admin/website/customer/", {"orders__exact": "9223372036854775808"})
    # SQLite cannot bind it (a 400 now); PostgreSQL compares it as a numeric and finds nothing.
    assert response.status_code == (400 if connection.vendor == "sqlite" else 200)
