"""Hostile notifications: the consumer records them as UnreadableMessage and deletes them, never loops.

Against moto's SQS and the real database (PostgreSQL refuses U+0000, which is where a NUL in a
key or a body used to fail every delivery of its message until the dead-letter queue)."""

from __future__ import annotations

import json
import uuid

import pytest

from ingest.models import ImportFile, UnreadableMessage
from ingest.services.intake.consumer import ConsumerOptions, EventConsumer
from ingest.testing.aws import aws_clients
from ingest.testing.samples import notification_body

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def queue(aws):
    """A bare queue: no bucket notifies it, so it holds only what a test sends (no s3:TestEvent)."""
    _s3, sqs = aws_clients(aws)
    return sqs, sqs.create_queue(QueueName=f"hostile-{uuid.uuid4().hex[:8]}")["QueueUrl"]


def consumer_for(url: str, enqueued_again: list[int]) -> EventConsumer:
    options = ConsumerOptions(queue_url=url, wait_time_seconds=0, sweep_interval=0)
    return EventConsumer(options, enqueue=enqueued_again.append, echo=lambda _line: None)


def messages_left(sqs, url: str) -> int:
    attrs = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])


def send_and_consume(sqs, url: str, bodies: list[str]) -> list[int]:
    for body in bodies:
        sqs.send_message(QueueUrl=url, MessageBody=body)
    enqueued_again: list[int] = []
    summary = consumer_for(url, enqueued_again).run(max_messages=len(bodies))
    assert summary.messages == len(bodies) and summary.errors == 0
    assert messages_left(sqs, url) == 0
    return enqueued_again


def test_a_nul_in_a_key_is_rejected_and_deleted(queue, settings):
    sqs, url = queue
    body = notification_body(settings.INGEST_BUCKET, "orders/2026/11/27/10/f\x00ile", "e1", 10)
    assert send_and_consume(sqs, url, [body]) == []
    [rejected] = UnreadableMessage.objects.all()
    assert "control characters" in rejected.error and rejected.body == body
    assert ImportFile.objects.count() == 0


def test_a_raw_nul_in_a_body_is_stored_escaped(queue):
    _sqs, url = queue
    message = {"MessageId": "m-nul", "ReceiptHandle": "never-used", "Body": '{"Records": "\x00"}'}
    result = consumer_for(url, []).handle(message, delete=False)
    assert result.rejected and result.deleted
    stored = UnreadableMessage.objects.get(message_id="m-nul")
    assert stored.body == '{"Records": "\\x00"}'


def test_deeply_nested_json_is_rejected_not_raised(queue):
    sqs, url = queue
    depth = 100_000
    send_and_consume(sqs, url, ["[" * depth + "]" * depth])
    [rejected] = UnreadableMessage.objects.all()
    assert "nested too deeply" in rejected.error


def test_a_malformed_eventbridge_event_is_rejected_not_raised(queue):
    sqs, url = queue
    body = json.dumps({"source": "aws.s3", "detail-type": "Object Created", "detail": {"bucket": "b", "object": []}})
    send_and_consume(sqs, url, [body])
    [rejected] = UnreadableMessage.objects.all()
    assert "unreadable message (AttributeError" in rejected.error


@pytest.mark.parametrize(
    ("bucket", "key", "reason"),
    [
        ("someone-elses-bucket", "orders/2026/11/27/10/f", "is not the ingest bucket"),
        (None, "/orders/2026/11/27/10/f", "starts with '/'"),
        (None, "tmp/orders/f", "nine stream prefixes"),
        (None, "orders/../customers/f", "'..' segment"),
        (None, "orders//f", "empty"),
        (None, "orders/2026/", "empty"),
        (None, "orders", "nine stream prefixes"),
        ("someone-elses-bucket", "errors/orders/processing-failed/2026/11/27/10/f", "is not the ingest bucket"),
    ],
)
def test_objects_outside_the_ingest_bucket_and_prefixes_are_rejected(queue, settings, bucket, key, reason):
    sqs, url = queue
    good = "customers/2026/11/27/10/good"
    record = json.loads(notification_body(bucket or settings.INGEST_BUCKET, key, "e1", 10))["Records"][0]
    mixed = json.loads(notification_body(settings.INGEST_BUCKET, good, "e2", 10))
    mixed["Records"].append(record)
    enqueued_again = send_and_consume(sqs, url, [json.dumps(mixed)])
    # The good record of the same message is registered; the other is recorded, not imported.
    [f] = ImportFile.objects.all()
    assert f.key == good and enqueued_again == [f.pk]
    [rejected] = UnreadableMessage.objects.all()
    assert reason in rejected.error and "record 1" in rejected.error


def test_an_overlong_key_is_rejected(queue, settings):
    sqs, url = queue
    send_and_consume(sqs, url, [notification_body(settings.INGEST_BUCKET, "orders/" + "k" * 2000, "e1", 10)])
    [rejected] = UnreadableMessage.objects.all()
    assert "longer than 1024" in rejected.error and ImportFile.objects.count() == 0
