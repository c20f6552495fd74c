"""Fuzzing the consumer's message handling (moto S3 behind it): S3 notifications mutated, SNS
envelopes, arbitrary bodies.

Property: ``handle`` never raises (a raise leaves the message in the queue to come back until the
dead-letter queue); every message is either used or recorded as a ``UnreadableMessage``, and may go."""

from __future__ import annotations

import json
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ingest.models import UnreadableMessage
from ingest.services.intake.consumer import ConsumerOptions, EventConsumer
from ingest.testing.aws import aws_clients
from ingest.testing.samples import notification_body
from tests.fuzz.budget import budget, count
from tests.fuzz.strategies import json_values, mutated_json, nasty_bytes, nasty_text

pytestmark = pytest.mark.django_db(transaction=True)

KEYS = ["orders/2026/12/04/10/f", "errors/orders/processing-failed/2026/12/04/x", "tmp/x", "/orders/a", "orders/../x"]


@pytest.fixture
def bucket(aws, settings) -> str:
    s3, _ = aws_clients(aws)
    name = settings.INGEST_BUCKET = f"fuzz-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key=KEYS[1], Body=b'{"errorMessage": "x"}\n\x00\n')
    return name


@st.composite
def bodies(draw: st.DrawFn, bucket: str) -> str:
    kind = draw(st.sampled_from(["notification", "mutated", "sns", "garbage", "json"]))
    key = draw(st.sampled_from(KEYS) | nasty_text)
    size = draw(st.integers(-5, 2**70) | st.just(10))
    target = draw(st.sampled_from([bucket, "other", ""]))
    try:
        body = notification_body(target, key, "etag", 10)
    except UnicodeEncodeError:  # a lone surrogate quote_plus cannot take: the key as it is
        body = notification_body(target, "k", "etag", 10).replace('"k"', json.dumps(key))
    doc = json.loads(body)
    doc["Records"][0]["s3"]["object"]["size"] = size
    if kind == "notification":
        return json.dumps(doc)
    if kind == "mutated":
        record = doc["Records"][0]
        return draw(mutated_json(draw(st.sampled_from([doc, record, record["s3"]])))).decode("utf-8", "replace")
    if kind == "sns":
        return json.dumps(
            {"Type": "Notification", "Message": draw(st.sampled_from([json.dumps(doc), ""]) | nasty_text)}
        )
    if kind == "json":
        return json.dumps(draw(json_values()))
    return draw(nasty_text | nasty_bytes.map(lambda b: b.decode("latin-1")))


@budget(3)
@given(data=st.data())
def test_every_message_is_used_or_recorded_and_never_raises(bucket, data):
    count("SQS bodies: consumer.handle")
    body = data.draw(bodies(bucket))
    consumer = EventConsumer(
        ConsumerOptions(queue_url="https://sqs.example/fuzz", wait_time_seconds=0, sweep_interval=0),
        sqs=object(),
        enqueue=lambda pk: None,
        echo=lambda line: None,
    )
    message = {"MessageId": uuid.uuid4().hex, "ReceiptHandle": "r", "Body": body}
    result = consumer.handle(message, delete=False)  # raising here is the failure the property names
    assert result.deleted
    if result.rejected:
        assert UnreadableMessage.objects.filter(message_id=message["MessageId"]).exists()
