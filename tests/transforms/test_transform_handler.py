"""transforms.handler: the Firehose data-transformation Lambda."""

from __future__ import annotations

import base64
import copy
import io
import json
import logging
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.transforms.strategies import EVENT_ID, event_bodies
from tests.transforms.strategies import sample_order as order
from transforms.handler import lambda_handler
from transforms.streams import STREAM_NAMES
from transforms.system_one import iter_lines, read_record

ARN = "arn:aws:firehose:us-east-1:123456789012:deliverystream/{}"


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def invocation(bodies: list, stream: str = "orders", env: str = "pre-prod") -> dict:
    """A Firehose invocation as Lambda receives it (source: a Kinesis data stream)."""
    return {
        "invocationId": "invocation-1",
        "deliveryStreamArn": ARN.format(f"{env}-{stream}"),
        "sourceKinesisStreamArn": f"arn:aws:kinesis:us-east-1:123456789012:stream/{env}-{stream}",
        "region": "us-east-1",
        "records": [
            {
                "recordId": f"record-{i:03d}",
                "approximateArrivalTimestamp": 1764238530000 + i,
                "data": body if isinstance(body, str) else b64(body),
                "kinesisRecordMetadata": {
                    "shardId": "shardId-000000000000",
                    "partitionKey": "SO-104233",
                    "approximateArrivalTimestamp": 1764238530000 + i,
                    "sequenceNumber": f"4959{i:040d}",
                    "subsequenceNumber": 0,
                },
            }
            for i, body in enumerate(bodies)
        ],
    }


def with_data(**changes) -> dict:
    event = order()
    event["data"].update(changes)
    return event


def without(path: str) -> dict:
    event = order()
    target = event
    *parents, last = path.split(".")
    for part in parents:
        target = target[part]
    del target[last]
    return event


def raw(event: dict) -> bytes:
    return json.dumps(event, ensure_ascii=False).encode("utf-8")


def decoded_line(output_record: dict) -> str:
    return base64.b64decode(output_record["data"], validate=True).decode("utf-8")


BAD = {
    "bad JSON": b'{"eventId": ',
    "not an object": b'["eventId"]',
    "bad UTF-8": raw(order()).replace(b"C-1", b"C-\xff"),
    "bad base64": "not base64!!",
    "base64 with garbage": b64(raw(order())) + "*",
    "empty body": b"",
    "missing eventId": raw(without("eventId")),
    "missing data": raw(without("data")),
    "missing required data field": raw(without("data.currency")),
    "null required data field": raw(with_data(currency=None)),
    "wrongly typed field": raw(with_data(rush="yes")),
    "float for money": raw(with_data(total=1222.06)),
    "int for money": raw(with_data(total=1222)),
    "money with 5 decimals": raw(with_data(total="1.00001")),
    "bad date": raw(with_data(orderDate="2026-02-30")),
    "date with time": raw(with_data(orderDate="2026-11-27T00:00:00Z")),
    "bad timestamp": raw(order(occurredAt="2026-11-27 10:15")),
    "timestamp without offset": raw(order(occurredAt="2026-11-27T10:15:30")),
    "version 0": raw(order(version=0)),
    "negative version": raw(order(version=-3)),
    "bool version": raw(order(version=True)),
    "float version": raw(order(version=42.0)),
    "string version": raw(order(version="42")),
    "unknown eventType": raw(order(eventType="update")),
    "other stream": raw(order(stream="customers")),
    "key/data mismatch": raw(with_data(orderNumber="SO-1")),
    "key missing field": raw(order(key={})),
    "key extra field": raw(order(key={"orderNumber": "SO-104233", "lineNumber": 1})),
    "delete with data": raw(order(eventType="delete")),
    "enum value not listed": raw(with_data(status="PENDING")),
    "code in lower case": raw(with_data(currency="usd")),
    "lone surrogate": raw(order()).replace(b'"C-1"', b'"C-\\udc00"'),
    "NaN": raw(order())[:-1] + b', "x": NaN}',
    "bad eventId": raw(order(eventId="42")),
}


def test_every_bad_record_fails_alone_and_order_is_kept(caplog):
    good = [raw(order(version=v)) for v in range(1, len(BAD) + 2)]
    bodies: list = []
    for i, bad in enumerate(BAD.values()):
        bodies += [good[i], bad]
    bodies.append(good[-1])
    event = invocation(bodies)
    before = copy.deepcopy(event)
    with caplog.at_level(logging.WARNING, logger="transforms.handler"):
        result = lambda_handler(event, None)
    assert event == before  # the input is left alone
    records = result["records"]
    assert [r["recordId"] for r in records] == [r["recordId"] for r in event["records"]]
    assert set(result) == {"records"}
    for i, (name, _bad) in enumerate(BAD.items()):
        ok, failed = records[2 * i], records[2 * i + 1]
        assert ok["result"] == "Ok", name
        assert failed["result"] == "ProcessingFailed", name
        assert failed["data"] == event["records"][2 * i + 1]["data"], name  # the original, for the error output
        assert set(failed) == {"recordId", "result", "data"}
        assert failed["recordId"] in caplog.text, name
    assert records[-1]["result"] == "Ok"
    versions = [read_record(decoded_line(r)).version for r in records if r["result"] == "Ok"]
    assert versions == list(range(1, len(BAD) + 2))


@pytest.mark.parametrize("name", list(BAD))
def test_each_bad_kind_is_processing_failed(name, caplog):
    with caplog.at_level(logging.WARNING, logger="transforms.handler"):
        result = lambda_handler(invocation([raw(order()), BAD[name], raw(order(version=43))]), None)
    assert [r["result"] for r in result["records"]] == ["Ok", "ProcessingFailed", "Ok"]
    [message] = [r.getMessage() for r in caplog.records if "record-001" in r.getMessage()]
    assert "orders" in message


def test_reasons_are_logged_with_record_id_stream_and_field(caplog):
    with caplog.at_level(logging.WARNING, logger="transforms.handler"):
        lambda_handler(invocation([BAD["float for money"]]), None)
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    message = record.getMessage()
    assert "record-000" in message and "orders" in message
    assert "data.total: must be a decimal string" in message


def test_logs_show_only_a_short_prefix_of_a_payload(caplog):
    secret = "S" * 500
    with caplog.at_level(logging.WARNING, logger="transforms.handler"):
        lambda_handler(invocation([raw(with_data(poNumber=secret, rush="x"))]), None)
    assert "S" * 100 not in caplog.text


def test_ok_records_are_system_one_lines():
    event = order()
    result = lambda_handler(invocation([raw(event)]), None)
    [record] = result["records"]
    assert record["result"] == "Ok"
    line = decoded_line(record)
    assert line.startswith(f"ORD|1|U|{EVENT_ID}|42|2026-11-27T10:15:30.123Z|orderNumber=SO-104233|")
    assert line.endswith("\n") and line.count("\n") == 1
    assert read_record(line).to_event() == event


def test_every_valid_event_is_ok_retries_included():
    first = raw(order())
    same_id_other_bytes = raw(order(version=43))
    reformatted = json.dumps(order(), indent=1).encode()
    result = lambda_handler(invocation([first, first, same_id_other_bytes, reformatted, first]), None)
    assert [r["result"] for r in result["records"]] == ["Ok"] * 5
    assert [r["recordId"] for r in result["records"]] == [f"record-{i:03d}" for i in range(5)]
    lines = [base64.b64decode(r["data"]) for r in result["records"]]
    assert lines[0] == lines[1] == lines[4] == lines[3]


def test_a_failed_record_repeated_fails_again():
    result = lambda_handler(invocation([BAD["bad JSON"], BAD["bad JSON"]]), None)
    assert [r["result"] for r in result["records"]] == ["ProcessingFailed", "ProcessingFailed"]


@pytest.mark.parametrize(
    "arn",
    [
        ARN.format("prod-payments"),
        ARN.format("orders"),
        "",
        None,
        "arn:aws:firehose:us-east-1:123456789012:deliverystream/prod-orders-backup",
    ],
)
def test_unknown_delivery_stream_fails_every_record(arn, caplog):
    event = invocation([raw(order()), BAD["bad JSON"]])
    if arn is None:
        del event["deliveryStreamArn"]
    else:
        event["deliveryStreamArn"] = arn
    with caplog.at_level(logging.WARNING, logger="transforms.handler"):
        result = lambda_handler(event, None)
    assert [r["result"] for r in result["records"]] == ["ProcessingFailed", "ProcessingFailed"]
    assert [r["data"] for r in result["records"]] == [r["data"] for r in event["records"]]
    assert "cannot tell the stream" in caplog.text


def test_the_delivery_stream_decides_the_stream():
    event = order()
    result = lambda_handler(invocation([raw(event)], stream="customers"), None)
    assert result["records"][0]["result"] == "ProcessingFailed"
    result = lambda_handler(invocation([raw(event)], stream="orders", env="dev-team-a"), None)
    assert result["records"][0]["result"] == "Ok"


def test_extra_unknown_fields_are_accepted_and_carried():
    event = order(traceId="abc", sourceSystem={"name": "S2", "build": 7})
    event["data"]["loyaltyTier"] = "gold"
    event["data"]["notes"] = ["a", {"b": None}]
    [record] = lambda_handler(invocation([raw(event)]), None)["records"]
    assert record["result"] == "Ok"
    assert read_record(decoded_line(record)).to_event() == event


def test_empty_and_odd_invocations():
    assert lambda_handler(invocation([]), None) == {"records": []}
    assert lambda_handler({}, None) == {"records": []}
    weird = invocation([raw(order())])
    weird["records"].append({"recordId": "no-data"})
    weird["records"].append({"recordId": "number", "data": 42})
    result = lambda_handler(weird, None)
    assert [(r["recordId"], r["result"]) for r in result["records"]] == [
        ("record-000", "Ok"),
        ("no-data", "ProcessingFailed"),
        ("number", "ProcessingFailed"),
    ]
    assert all(isinstance(r["data"], str) for r in result["records"])


@pytest.mark.slow
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(STREAM_NAMES).flatmap(lambda s: st.lists(event_bodies(s), min_size=1, max_size=6)))
def test_generated_batches_round_trip_through_a_firehose_file(pairs):
    stream = pairs[0][0]["stream"]
    result = lambda_handler(invocation([body for _event, body in pairs], stream=stream, env="prod"), None)
    outputs = result["records"]
    assert len(outputs) == len(pairs)
    kept = []
    for (event, _body), output in zip(pairs, outputs, strict=True):
        assert output["result"] == "Ok"
        kept.append(event)
    # Firehose concatenates the Ok records into one S3 object, without a delimiter
    s3_object = b"".join(base64.b64decode(r["data"]) for r in outputs if r["result"] == "Ok")
    lines = [line for _n, line in iter_lines(io.BytesIO(s3_object), chunk_size=7)]
    assert [read_record(line).to_event() for line in lines] == kept


def test_import_is_cheap_and_standard_library_only():
    code = (
        "import sys, time; t = time.perf_counter(); import transforms.handler; "
        "print(time.perf_counter() - t); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('django', 'hypothesis', 'boto3', 'botocore')));"
        "print('transforms.system_one.reader' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    assert float(out[0]) < 0.5
    assert out[1] == "[]"
    assert out[2] == "False"  # the Lambda only writes: the reader's patterns are not compiled at cold start
