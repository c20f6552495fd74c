"""The consumer on the failed-records queue: each error object Firehose writes is registered with
its records, through real S3 notifications (moto), and the message goes."""

from __future__ import annotations

import uuid

import pytest

from ingest.models import ErrorOutputFile, FailedRecord, ImportFile
from ingest.services.intake.consumer import ConsumerOptions, EventConsumer
from ingest.testing.aws import aws_clients, new_bucket
from ingest.testing.failed_records import land_rejected
from ingest.testing.samples import invalid_order, order_events

pytestmark = pytest.mark.django_db(transaction=True)


def test_error_objects_notified_on_the_failed_records_queue_are_registered(aws, settings):
    s3, sqs = aws_clients(aws)
    bucket = settings.INGEST_BUCKET = new_bucket(s3)
    url = sqs.create_queue(QueueName=f"failed-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    rule = {"Key": {"FilterRules": [{"Name": "prefix", "Value": "errors/"}]}}
    s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={
            "QueueConfigurations": [
                {"Id": "errors-created", "QueueArn": arn, "Events": ["s3:ObjectCreated:*"], "Filter": rule}
            ]
        },
    )
    land_rejected(bucket, [*order_events(2, run="c"), invalid_order(0), invalid_order(1), invalid_order(2)])

    enqueued_again: list[int] = []
    consumer = EventConsumer(
        ConsumerOptions(queue_url=url, wait_time_seconds=0, sweep_interval=0), enqueue=enqueued_again.append, echo=print
    )
    consumer.run(max_messages=2)  # the s3:TestEvent and the error object's notification
    [error_file] = ErrorOutputFile.objects.all()
    assert error_file.registered_by == "notification" and error_file.s3_event_time is not None
    assert error_file.stream == "orders" and error_file.records_count == 4  # 1 rush order + 3 invalid
    assert FailedRecord.objects.count() == 4
    assert not ImportFile.objects.exists() and enqueued_again == []
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
    assert attrs["ApproximateNumberOfMessages"] == "0"
