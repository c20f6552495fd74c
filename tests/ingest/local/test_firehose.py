"""The Kinesis → Firehose stand-in against a real moto S3: naming, GZIP, concatenation, buffering
by size and by time, Dropped records, the error output, the response checks, sequence numbers.

Where a test needs the transform to answer something the real one does not (a Dropped record on
demand, a malformed response, an exception), it passes a function of its own: that is the input
of the stand-in under test, not a replacement of our code. Everything else runs the real
``transforms.handler.lambda_handler``.
"""

from __future__ import annotations

import base64
import json
import re
import time
from datetime import UTC, datetime

import pytest

from ingest.local.firehose import (
    MAX_RECORD_BYTES,
    FirehoseClosed,
    FirehoseConfig,
    LocalFirehose,
    RecordTooLarge,
    UnknownStream,
    partition_key_of,
)
from ingest.testing.aws import keys, raw_object, read_gzip
from ingest.testing.samples import checked, order_event, order_line_event
from ingest.testing.utilities import wait_until
from transforms.system_one.writer import write_record

KEY_RE = re.compile(
    r"^(?P<prefix>.+/)(?P<y>\d{4})/(?P<m>\d{2})/(?P<d>\d{2})/(?P<h>\d{2})/"
    r"(?P<name>[a-z-]+)-1-(?P<y2>\d{4})-(?P<m2>\d{2})-(?P<d2>\d{2})-(?P<h2>\d{2})-(?P<mi>\d{2})-(?P<s>\d{2})-"
    r"(?P<uuid>[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12})\.gz$"
)
ERROR_FIELDS = {
    "attemptsMade",
    "arrivalTimestamp",
    "errorCode",
    "errorMessage",
    "attemptEndingTimestamp",
    "rawData",
    "lambdaArn",
}


def echo(event: dict, context) -> dict:
    """A transform that answers every record Ok with its data unchanged."""
    return {"records": [{"recordId": r["recordId"], "result": "Ok", "data": r["data"]} for r in event["records"]]}


@pytest.fixture
def make(bucket):
    made: list[LocalFirehose] = []

    def make(transform=None, **config) -> LocalFirehose:
        config = {"bucket": bucket, "buffer_interval_seconds": 60.0, **config}
        firehose = LocalFirehose(FirehoseConfig(**config), transform=transform)
        made.append(firehose)
        return firehose

    yield make
    for firehose in made:
        firehose.close()


def body(event: dict) -> bytes:
    return json.dumps(event).encode()


def test_object_naming_follows_firehose(make, s3, bucket):
    firehose = make()
    before = datetime.now(UTC).replace(microsecond=0)
    firehose.put_record("order-lines", body(checked(order_line_event())))
    firehose.flush()
    after = datetime.now(UTC)

    [key] = keys(s3, bucket)
    m = KEY_RE.match(key)
    assert m, key
    assert m["prefix"] == "order-lines/"
    assert m["name"] == "local-order-lines"
    assert (m["y"], m["m"], m["d"], m["h"]) == (m["y2"], m["m2"], m["d2"], m["h2"])
    stamp = datetime(int(m["y"]), int(m["m"]), int(m["d"]), int(m["h"]), int(m["mi"]), int(m["s"]), tzinfo=UTC)
    assert before <= stamp <= after


def test_env_names_the_delivery_stream(make, s3, bucket):
    captured = []

    def recording(event, context):
        captured.append(event)
        return echo(event, context)

    firehose = make(recording, env="pre-prod", region="eu-west-1")
    firehose.put_record("orders", b"{}")
    firehose.flush()
    [key] = keys(s3, bucket)
    assert key.startswith("orders/") and "/pre-prod-orders-1-" in key
    assert captured[0]["deliveryStreamArn"] == "arn:aws:firehose:eu-west-1:000000000000:deliverystream/pre-prod-orders"


def test_objects_are_gzip_and_records_concatenated_without_delimiter(make, s3, bucket):
    firehose = make()
    events = [checked(order_event(f"SO-{i}", version=i + 1)) for i in range(3)]
    for event in events:
        firehose.put_record("orders", body(event))
    firehose.flush()

    [key] = keys(s3, bucket, "orders/")
    raw = raw_object(s3, bucket, key)
    assert raw[:2] == b"\x1f\x8b"
    # The transform ends every line with "\n"; Firehose adds nothing between records.
    assert read_gzip(s3, bucket, key) == "".join(write_record(e) for e in events).encode()


def test_concatenation_adds_no_delimiter_to_arbitrary_records(make, s3, bucket):
    firehose = make(echo)
    for part in (b"ab", b"cd", b"ef"):
        firehose.put_record("customers", part)
    firehose.flush()
    [key] = keys(s3, bucket, "customers/")
    assert read_gzip(s3, bucket, key) == b"abcdef"


def test_batching_by_size(make, s3, bucket):
    firehose = make(echo, buffer_size_bytes=100, buffer_interval_seconds=60.0)
    records = [b"x" * 39 + str(i).encode() for i in range(3)]  # 40 bytes each
    for record in records[:2]:
        firehose.put_record("orders", record)
    time.sleep(0.3)
    assert keys(s3, bucket) == []  # 80 bytes: not due, and the interval is a minute away

    firehose.put_record("orders", records[2])  # 120 bytes buffered: due by size
    [first] = wait_until(lambda: keys(s3, bucket, "orders/"), timeout=5)
    # A file holds at most the buffer size: the third record waits for the next one.
    assert read_gzip(s3, bucket, first) == records[0] + records[1]
    assert firehose.pending() == 1

    firehose.flush()
    [second] = [k for k in keys(s3, bucket, "orders/") if k != first]
    assert read_gzip(s3, bucket, second) == records[2]


def test_batching_by_time(make, s3, bucket):
    firehose = make(echo, buffer_size_bytes=1 << 20, buffer_interval_seconds=1.0)
    put_at = time.monotonic()
    firehose.put_record("shipments", b"one")
    firehose.put_record("shipments", b"two")
    assert keys(s3, bucket) == []

    [key] = wait_until(lambda: keys(s3, bucket, "shipments/"), timeout=10)
    assert time.monotonic() - put_at >= 1.0
    assert read_gzip(s3, bucket, key) == b"onetwo"
    assert firehose.pending() == 0


def test_each_stream_has_its_own_buffer_and_files(make, s3, bucket):
    firehose = make(echo)
    firehose.put_record("orders", b"o")
    firehose.put_record("invoices", b"i")
    firehose.flush()
    assert [k.split("/")[0] for k in keys(s3, bucket)] == ["invoices", "orders"]


def test_dropped_records_are_not_written(make, s3, bucket):
    def drop_odd(event, context):
        return {
            "records": [
                {"recordId": r["recordId"], "result": "Dropped" if i % 2 else "Ok", "data": r["data"]}
                for i, r in enumerate(event["records"])
            ]
        }

    firehose = make(drop_odd)
    for part in (b"0", b"1", b"2", b"3"):
        firehose.put_record("orders", part)
    firehose.flush()
    [key] = keys(s3, bucket)
    assert read_gzip(s3, bucket, key) == b"02"
    assert firehose.totals().records_dropped == 2


def test_a_batch_of_only_dropped_records_writes_nothing(make, s3, bucket):
    def drop_all(event, context):
        return {"records": [{"recordId": r["recordId"], "result": "Dropped"} for r in event["records"]]}

    firehose = make(drop_all)
    firehose.put_record("orders", b"x")
    firehose.flush()
    assert keys(s3, bucket) == []


def test_the_real_transform_keeps_a_retried_body(make, s3, bucket):
    firehose = make()
    event = checked(order_event())
    firehose.put_record("orders", body(event))
    firehose.put_record("orders", body(event))  # System Two retried the call: the importer finds it stale
    firehose.flush()
    [key] = keys(s3, bucket)
    assert read_gzip(s3, bucket, key) == write_record(event).encode() * 2
    assert firehose.totals().records_dropped == 0


def error_documents(s3, bucket: str, stream: str) -> list[dict]:
    docs = []
    for key in keys(s3, bucket, f"errors/{stream}/processing-failed/"):
        m = KEY_RE.match(key)
        assert m, key
        assert m["prefix"] == f"errors/{stream}/processing-failed/"
        assert m["name"] == f"local-{stream}"
        assert raw_object(s3, bucket, key)[:2] == b"\x1f\x8b"
        text = read_gzip(s3, bucket, key).decode()
        assert text.endswith("\n")
        docs += [json.loads(line) for line in text.splitlines()]
    return docs


def test_processing_failed_records_go_to_the_error_output(make, s3, bucket):
    firehose = make()
    good = checked(order_event("SO-GOOD"))
    bad = order_event("SO-BAD", subtotal=12.5)  # money as a JSON number: the transform rejects it
    firehose.put_record("orders", body(good))
    firehose.put_record("orders", body(bad))
    firehose.flush()

    [data_key] = keys(s3, bucket, "orders/")
    assert read_gzip(s3, bucket, data_key) == write_record(good).encode()
    [doc] = error_documents(s3, bucket, "orders")
    assert set(doc) == ERROR_FIELDS
    assert doc["errorCode"] == "Lambda.ProcessingFailed"
    assert doc["attemptsMade"] == 1
    assert base64.b64decode(doc["rawData"]) == body(bad)
    assert doc["lambdaArn"] == "arn:aws:lambda:us-east-1:000000000000:function:local-erp-ingest-transform:$LATEST"
    assert isinstance(doc["arrivalTimestamp"], int)
    assert doc["arrivalTimestamp"] <= doc["attemptEndingTimestamp"]
    assert firehose.totals().records_failed == 1


def test_a_transform_that_raises_fails_the_batch_after_the_retries(make, s3, bucket):
    calls = []

    def broken(event, context):
        calls.append(event["invocationId"])
        raise RuntimeError("boom")

    firehose = make(broken, lambda_retries=2)
    firehose.put_record("invoices", b"a")
    firehose.put_record("invoices", b"b")
    firehose.flush()

    assert len(calls) == 3
    assert keys(s3, bucket, "invoices/") == []
    docs = error_documents(s3, bucket, "invoices")
    assert [base64.b64decode(d["rawData"]) for d in docs] == [b"a", b"b"]
    assert {d["errorCode"] for d in docs} == {"Lambda.FunctionError"}
    assert {d["attemptsMade"] for d in docs} == {3}
    assert "boom" in docs[0]["errorMessage"]


@pytest.mark.parametrize(
    ("respond", "code"),
    [
        (lambda records: {"records": records[:-1]}, "Lambda.MissingRecordId"),
        (lambda records: {"records": [*records, records[0]]}, "Lambda.DuplicatedRecordId"),
        (lambda records: {"records": [{**records[0], "recordId": "nope"}, *records[1:]]}, "Lambda.MissingRecordId"),
        (lambda records: {"records": [{**r, "result": "Maybe"} for r in records]}, "Lambda.InvalidReturnedData"),
        (lambda records: {"records": [{**r, "data": "not base64!"} for r in records]}, "Lambda.InvalidReturnedData"),
        (lambda records: {"nothing": []}, "Lambda.InvalidReturnedData"),
        (lambda records: [records], "Lambda.InvalidReturnedData"),
        (lambda records: {"records": [{**r, "data": {1, 2}} for r in records]}, "Lambda.JsonProcessingException"),
    ],
)
def test_a_malformed_response_fails_the_whole_batch(make, s3, bucket, respond, code):
    def transform(event, context):
        ok = [{"recordId": r["recordId"], "result": "Ok", "data": r["data"]} for r in event["records"]]
        return respond(ok)

    firehose = make(transform)
    firehose.put_record("estimates", b"1")
    firehose.put_record("estimates", b"2")
    firehose.flush()

    assert keys(s3, bucket, "estimates/") == []
    docs = error_documents(s3, bucket, "estimates")
    assert [base64.b64decode(d["rawData"]) for d in docs] == [b"1", b"2"]
    assert {d["errorCode"] for d in docs} == {code}


def test_the_transformation_event_is_firehose_s(make, bucket):
    captured = []

    def recording(event, context):
        captured.append((event, context))
        return echo(event, context)

    firehose = make(recording)
    line = checked(order_line_event("SO-9", 3))
    result = firehose.put_record("order-lines", body(line))
    firehose.flush()

    [(event, context)] = captured
    assert set(event) == {"invocationId", "deliveryStreamArn", "sourceKinesisStreamArn", "region", "records"}
    assert event["deliveryStreamArn"] == "arn:aws:firehose:us-east-1:000000000000:deliverystream/local-order-lines"
    assert event["sourceKinesisStreamArn"] == "arn:aws:kinesis:us-east-1:000000000000:stream/local-order-lines"
    assert event["region"] == "us-east-1"
    [record] = event["records"]
    assert base64.b64decode(record["data"]) == body(line)
    assert isinstance(record["approximateArrivalTimestamp"], int)
    meta = record["kinesisRecordMetadata"]
    assert meta == {
        "shardId": "shardId-000000000000",
        "partitionKey": "SO-9|3",
        "approximateArrivalTimestamp": record["approximateArrivalTimestamp"],
        "sequenceNumber": result.sequence_number,
        "subsequenceNumber": 0,
    }
    assert context.get_remaining_time_in_millis() > 0
    assert context.function_name == "local-erp-ingest-transform"


def test_sequence_numbers_increase_per_stream(make):
    firehose = make(echo)
    orders = [firehose.put_record("orders", b"x").sequence_number for _ in range(5)]
    invoices = [firehose.put_record("invoices", b"x").sequence_number for _ in range(2)]
    for numbers in (orders, invoices):
        assert all(n.isdigit() and len(n) == 56 for n in numbers)
        assert [int(n) for n in numbers] == sorted(int(n) for n in numbers)
        assert len(set(numbers)) == len(numbers)
        assert numbers == sorted(numbers)  # fixed width: the strings sort like the numbers


def test_partition_key_is_the_entity_key():
    assert partition_key_of(body(order_event("SO-7")), "orders") == "SO-7"
    assert partition_key_of(body(order_line_event("SO-7", 12)), "order-lines") == "SO-7|12"
    fallback = partition_key_of(b"not json", "orders")
    assert len(fallback) == 64 and fallback == partition_key_of(b"not json", "orders")


def test_put_record_refuses_unknown_streams_and_oversized_records(make):
    firehose = make(echo)
    with pytest.raises(UnknownStream):
        firehose.put_record("nope", b"x")
    with pytest.raises(RecordTooLarge):
        firehose.put_record("orders", b"x" * (MAX_RECORD_BYTES + 1))
    firehose.put_record("orders", b"x" * MAX_RECORD_BYTES)


def test_close_delivers_what_is_buffered_and_refuses_more(make, s3, bucket):
    firehose = make(echo)
    firehose.put_record("orders", b"last words")
    firehose.close()
    [key] = keys(s3, bucket)
    assert read_gzip(s3, bucket, key) == b"last words"
    with pytest.raises(FirehoseClosed):
        firehose.put_record("orders", b"more")


def test_a_failed_s3_write_keeps_the_records(make, s3, bucket):
    firehose = make(echo, bucket="not-created-yet")
    firehose.put_record("orders", b"kept")
    with pytest.raises(Exception, match="NoSuchBucket"):
        firehose.flush()
    assert firehose.pending() == 1
    assert firehose.totals().delivery_failures == 1

    s3.create_bucket(Bucket="not-created-yet")
    firehose.flush()
    [key] = keys(s3, "not-created-yet")
    assert read_gzip(s3, "not-created-yet", key) == b"kept"
    assert firehose.pending() == 0


def test_concurrent_puts_lose_nothing(make, s3, bucket):
    import threading

    firehose = make(echo, buffer_size_bytes=2_000, buffer_interval_seconds=0.2)

    def put(n: int) -> None:
        for i in range(200):
            firehose.put_record("orders", f"{n:02d}-{i:04d};".encode())

    threads = [threading.Thread(target=put, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    firehose.flush()
    written = b"".join(read_gzip(s3, bucket, key) for key in keys(s3, bucket, "orders/"))
    parts = written.decode().split(";")[:-1]
    assert sorted(parts) == sorted(f"{n:02d}-{i:04d}" for n in range(8) for i in range(200))
    assert len(keys(s3, bucket, "orders/")) > 1
