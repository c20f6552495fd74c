"""Hostile objects under ``errors/``: whatever they hold, each is registered once (an ErrorOutputFile and
its records, the trouble said), and its notification is deleted rather than looping to the
dead-letter queue. Text is stored as any database can hold it (U+0000 as ``\\x00``), a line is
read within INGEST_MAX_ERROR_LINE_BYTES, and a long line costs linear time."""

from __future__ import annotations

import base64
import gzip
import io
import json
import struct
import time
import uuid

import pytest

from ingest.models import ErrorOutputFile, FailedRecord
from ingest.services.intake.consumer import ConsumerOptions, EventConsumer
from ingest.services.intake.error_output import register_error_object
from ingest.testing.aws import aws_clients
from ingest.testing.samples import notification_body

pytestmark = pytest.mark.django_db(transaction=True)


def firehose_line(**fields) -> bytes:
    doc = {
        "attemptsMade": 1,
        "arrivalTimestamp": 1764238530123,
        "errorCode": "Lambda.FunctionError",
        "errorMessage": "the transform rejected it",
        "attemptEndingTimestamp": 1764238531123,
        "rawData": base64.b64encode(b'{"eventId": "x"}').decode(),
        "lambdaArn": "arn:aws:lambda:us-east-1:123456789012:function:transform",
        **fields,
    }
    return json.dumps(doc).encode() + b"\n"


@pytest.fixture
def errors_queue(aws, settings):
    s3, sqs = aws_clients(aws)
    bucket = settings.INGEST_BUCKET = f"hostile-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=bucket)
    url = sqs.create_queue(QueueName=f"failed-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    return s3, sqs, bucket, url


def notify_and_consume(errors_queue, payload: bytes, key: str = "") -> ErrorOutputFile:
    """Put the object, send its notification, let the consumer take one message; the message must go."""
    s3, sqs, bucket, url = errors_queue
    key = key or f"errors/orders/processing-failed/2026/12/04/10/{uuid.uuid4().hex}"
    etag = s3.put_object(Bucket=bucket, Key=key, Body=payload)["ETag"].strip('"')
    sqs.send_message(QueueUrl=url, MessageBody=notification_body(bucket, key, etag, len(payload)))
    consumer = EventConsumer(
        ConsumerOptions(queue_url=url, wait_time_seconds=0, sweep_interval=0), enqueue=lambda pk: None
    )
    summary = consumer.run(once=True)
    assert summary.errors == 0, "the message was left in the queue: it would loop to the dead-letter queue"
    attrs = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    assert attrs == {"ApproximateNumberOfMessages": "0", "ApproximateNumberOfMessagesNotVisible": "0"}
    return ErrorOutputFile.objects.get(bucket=bucket, key=key)


def records(error_file: ErrorOutputFile) -> list[FailedRecord]:
    return list(FailedRecord.objects.filter(error_file=error_file).order_by("line_number"))


def test_nul_in_the_error_message_and_the_raw_data_is_stored_escaped(errors_queue):
    payload = (
        firehose_line()
        + firehose_line(errorMessage="bad\u0000message", errorCode="Code\u0000X")
        + firehose_line(rawData="AAAA\u0000", lambdaArn="arn\u0000")
        + b'{"errorMessage": "raw \x00 byte", "rawData": "\x00"}\n'
        + b"not json \x00 at all\n"
    )
    error_file = notify_and_consume(errors_queue, gzip.compress(payload))
    assert error_file.records_count == 5 and error_file.error_message == ""
    stored = records(error_file)
    assert [r.line_number for r in stored] == [1, 2, 3, 4, 5]
    assert stored[1].error_message == "bad\\x00message" and stored[1].error_code == "Code\\x00X"
    assert stored[2].raw_data == "AAAA\\x00" and stored[2].lambda_arn == "arn\\x00"
    assert "\\x00" in stored[3].error_message  # a raw NUL byte is not JSON: kept as the line's text
    assert stored[4].error_message == "not json \\x00 at all"
    for record in stored:
        for value in (record.error_code, record.error_message, record.raw_data, record.lambda_arn, record.reason):
            assert "\x00" not in value


def test_values_the_columns_cannot_hold_are_bounded(errors_queue):
    payload = (
        firehose_line(attemptsMade=-1)
        + firehose_line(attemptsMade=10**30, arrivalTimestamp=10**30, attemptEndingTimestamp=-(10**20))
        + firehose_line(errorCode="\u0000" * 255, lambdaArn="\u0000" * 2048)
        + firehose_line(errorMessage="lone \ud800 surrogate", rawData={"nested": ["\udfff"]})
        + b"[" * 100_000
        + b"\n"
    )
    error_file = notify_and_consume(errors_queue, payload)
    stored = records(error_file)
    assert error_file.records_count == len(stored) == 5
    assert stored[0].attempts_made is None and stored[1].attempts_made is None and stored[1].arrival_at is None
    assert len(stored[2].error_code) <= 255 and len(stored[2].lambda_arn) <= 2048
    assert stored[2].error_code.startswith("\\x00")
    assert "surrogate" in stored[3].error_message
    assert stored[4].error_code == "Ingest.UnreadableErrorLine"


def test_corrupt_gzip_is_recorded_not_retried(errors_queue):
    packed = bytearray(gzip.compress(firehose_line() * 100))
    crc = struct.unpack("<I", packed[-8:-4])[0]
    packed[-8:-4] = struct.pack("<I", crc ^ 1)
    error_file = notify_and_consume(errors_queue, bytes(packed))
    assert "corrupt" in error_file.error_message and error_file.records_count == 0
    assert not FailedRecord.objects.filter(error_file=error_file).exists()


def test_truncated_gzip_keeps_the_records_before_the_cut_and_says_so(errors_queue):
    packed = gzip.compress(b"".join(firehose_line(errorMessage=f"m{n}") for n in range(2000)))
    error_file = notify_and_consume(errors_queue, packed[: len(packed) // 2])
    assert "truncated" in error_file.error_message
    assert 0 < error_file.records_count < 2000 == 2000
    assert error_file.records_count == FailedRecord.objects.filter(error_file=error_file).count()


def test_an_overlong_line_is_one_record_with_an_excerpt_and_its_length(errors_queue, settings):
    settings.INGEST_MAX_ERROR_LINE_BYTES = 100_000
    long_line = firehose_line(errorMessage="x" * 500_000)
    error_file = notify_and_consume(errors_queue, firehose_line() + long_line + firehose_line())
    first, overlong, last = records(error_file)
    assert (first.error_code, last.error_code) == ("Lambda.FunctionError", "Lambda.FunctionError")
    assert overlong.line_number == 2 and overlong.error_code == "Ingest.OverlongErrorLine"
    assert str(len(long_line) - 1) in overlong.reason and "INGEST_MAX_ERROR_LINE_BYTES" in overlong.reason
    assert len(overlong.error_message) <= 4096


def test_a_32_mb_line_is_read_in_linear_time(tmp_path, settings):
    """Before: the pending buffer was joined and split again at every 64 KiB chunk (10 s of CPU for
    32 MB). Now the line is bounded and read once: well under a second of CPU."""
    settings.INGEST_MAX_ERROR_LINE_BYTES = 64 << 20  # the bound is not what makes it fast here
    path = tmp_path / "errors" / "orders" / "long"
    path.parent.mkdir(parents=True)
    path.write_bytes(firehose_line(errorMessage="y" * (32 << 20)))
    started = time.process_time()
    error_file, created = register_error_object("", str(path), registered_by="command")
    cpu = time.process_time() - started
    print(f"32 MB error line: {cpu:.2f} s of CPU")
    assert created and error_file.records_count == 1
    assert cpu < 5.0  # 10 s before; about 0.3 s now (generous: a shared 2-core machine)


def test_a_gzip_bomb_line_is_cut_at_the_bound(tmp_path, settings):
    settings.INGEST_MAX_ERROR_LINE_BYTES = 1 << 20
    path = tmp_path / "errors" / "orders" / "bomb.gz"
    path.parent.mkdir(parents=True)
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb") as gz:
        for _ in range(64):
            gz.write(b"\0" * (1 << 20))
    path.write_bytes(out.getvalue())
    error_file, _ = register_error_object("", str(path), registered_by="command")
    [record] = records(error_file)
    assert record.error_code == "Ingest.OverlongErrorLine" and str(64 << 20) in record.reason
    assert "\x00" not in record.error_message
