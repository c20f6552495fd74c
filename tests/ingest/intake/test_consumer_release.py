"""A message the consumer received but could not handle because the database failed is made
visible again after the consumer's backoff (ChangeMessageVisibility), not after the queue's
visibility timeout (60 s here); and while the database stays down the consumer does not receive
again, so an outage costs a message one receive towards the DLQ's maxReceiveCount, not one per
backoff. Against moto's SQS and S3; the database fails at the driver (an execute wrapper)."""

from __future__ import annotations

import time
import uuid
from contextlib import contextmanager

import pytest
from django.db import OperationalError, connection

from ingest.models import ImportFile
from ingest.services.intake.consumer import ConsumerOptions, EventConsumer
from ingest.testing.aws import aws_clients, create_bucket_and_queue
from ingest.testing.samples import firehose_body, firehose_key, order_events

pytestmark = pytest.mark.django_db(transaction=True)


@contextmanager
def database_down():
    """Every statement fails as a database that went away does."""

    def refuse(execute, sql, params, many, context):
        raise OperationalError("server closed the connection unexpectedly")

    with connection.execute_wrapper(refuse):
        yield


def _receive_counts(sqs, url: str, wait: int) -> list[int]:
    messages = sqs.receive_message(
        QueueUrl=url, WaitTimeSeconds=wait, MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"]
    ).get("Messages", [])
    return [int(m["Attributes"]["ApproximateReceiveCount"]) for m in messages]


def _visible(sqs, url: str) -> int:
    return int(
        sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"][
            "ApproximateNumberOfMessages"
        ]
    )


@pytest.fixture
def queue(aws, settings):
    s3, sqs = aws_clients(aws)
    url = create_bucket_and_queue(s3, sqs, settings.INGEST_BUCKET, f"release-{uuid.uuid4().hex[:8]}")
    sqs.purge_queue(QueueUrl=url)  # the s3:TestEvent
    s3.put_object(Bucket=settings.INGEST_BUCKET, Key=firehose_key("orders"), Body=firehose_body(order_events(2)))
    return sqs, url


def _consumer(url: str, enqueued: list[int]) -> EventConsumer:
    options = ConsumerOptions(queue_url=url, wait_time_seconds=1, sweep_interval=0, backoff_max=5.0)
    return EventConsumer(options, enqueue=enqueued.append, echo=lambda _line: None)


def test_a_message_not_handled_because_the_database_failed_is_visible_again_after_the_backoff(queue):
    sqs, url = queue
    enqueued: list[int] = []
    consumer = _consumer(url, enqueued)
    with database_down():
        summary = consumer.run(once=True)
        released = time.monotonic()
        assert summary.errors == 1 and summary.messages == 0
        assert consumer.db_outage.down
        # Visible again after the backoff of one failure (1 s), the queue's 60 s visibility timeout notwithstanding.
        while _visible(sqs, url) == 0:
            assert time.monotonic() - released < 10, "the message did not come back within the backoff"
            time.sleep(0.1)
        print(f"\nvisible again {time.monotonic() - released:.2f} s after the failed handling (queue: 60 s)")

        # Still down: the consumer looks at the database, not at the queue; the message keeps its one receive.
        consumer.run(once=True)
        assert _visible(sqs, url) == 1
    assert not ImportFile.objects.exists()

    consumer.run(once=True)  # the database is back: registered, enqueued, deleted
    assert not consumer.db_outage.down
    assert ImportFile.objects.count() == 1 and enqueued == [ImportFile.objects.get().pk]
    assert _visible(sqs, url) == 0 and _receive_counts(sqs, url, 0) == []


def test_without_the_release_it_would_wait_for_the_visibility_timeout(queue):
    """The baseline the first test is measured against: a received message nobody releases stays
    invisible (moto keeps the 60 s timeout)."""
    sqs, url = queue
    assert _receive_counts(sqs, url, 1) == [1]
    time.sleep(2)
    assert _visible(sqs, url) == 0
