"""The S3 notification parser: moto's and AWS's variants, SNS and EventBridge envelopes, and garbage."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from ingest.services.intake.notifications import (
    MessageUnreadable,
    decode_key,
    parse_event_time,
    parse_notification,
)


def record(key: str = "orders/2026/11/27/10/prod-orders-1-2026-11-27-10-15-30-abc", **overrides) -> dict:
    rec: dict[str, Any] = {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": "us-east-1",
        "eventTime": "2026-11-27T10:15:30.123Z",
        "eventName": "ObjectCreated:Put",
        "userIdentity": {"principalId": "AWS:AIDAEXAMPLE"},
        "requestParameters": {"sourceIPAddress": "10.0.0.1"},
        "responseElements": {
            "x-amz-request-id": "C3D13FE58DE4C810",
            "x-amz-id-2": "FMyUVURIY8/IgAtTv8xRjskZ",
        },
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "ingest-orders",
            "bucket": {
                "name": "erp-ingest",
                "ownerIdentity": {"principalId": "A3NL1KOZZKExample"},
                "arn": "arn:aws:s3:::erp-ingest",
            },
            "object": {
                "key": key,
                "size": 1024,
                "eTag": "d41d8cd98f00b204e9800998ecf8427e",
                "versionId": "096fKKXTRTtl3on89fVO.nfljtsv6qko",
                "sequencer": "0055AED6DCD90281E5",
            },
        },
    }
    for path, value in overrides.items():
        target = rec
        *parents, leaf = path.split("__")
        for parent in parents:
            target = target[parent]
        if value is _DROP:
            target.pop(leaf)
        else:
            target[leaf] = value
    return rec


_DROP = object()


def body(*records: dict) -> str:
    return json.dumps({"Records": list(records)})


def test_aws_record_with_every_field():
    n = parse_notification(body(record()))
    assert not n.is_test_event
    [obj] = n.created
    assert obj.bucket == "erp-ingest"
    assert obj.key == "orders/2026/11/27/10/prod-orders-1-2026-11-27-10-15-30-abc"
    assert obj.etag == "d41d8cd98f00b204e9800998ecf8427e"
    assert obj.size == 1024
    assert obj.version_id == "096fKKXTRTtl3on89fVO.nfljtsv6qko"
    assert obj.sequencer == "0055AED6DCD90281E5"
    assert obj.event_time == datetime(2026, 11, 27, 10, 15, 30, 123000, tzinfo=UTC)


def test_moto_record_without_version_id_or_sequencer():
    # What moto 5 sends: eventVersion 2.1, no versionId, no sequencer, the key quote_plus'ed.
    moto_body = {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": "us-east-1",
                "eventTime": "2026-11-27T10:15:30.123Z",
                "eventName": "ObjectCreated:Put",
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": "ingest-orders",
                    "bucket": {"name": "erp-ingest", "arn": "arn:aws:s3:::erp-ingest"},
                    "object": {"key": "orders%2F2026%2F11%2F27%2F10%2Fa+b", "size": 7, "eTag": "abc"},
                },
            }
        ]
    }
    [obj] = parse_notification(json.dumps(moto_body)).created
    assert obj.key == "orders/2026/11/27/10/a b"
    assert (obj.version_id, obj.sequencer, obj.etag, obj.size) == ("", "", "abc", 7)


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("orders/2026/11/27/10/with+space", "orders/2026/11/27/10/with space"),
        ("orders%2F2026%2Ffile", "orders/2026/file"),
        ("orders/a%2Bplus", "orders/a+plus"),
        ("orders/caf%C3%A9+%C3%BC", "orders/café ü"),
        ("orders/percent%2541", "orders/percent%41"),
        ("orders/plain-key", "orders/plain-key"),
    ],
)
def test_keys_are_url_decoded_with_plus_for_space(raw, key):
    assert decode_key(raw) == key
    [obj] = parse_notification(body(record(key=raw))).created
    assert obj.key == key


def test_test_event_is_skipped():
    n = parse_notification(
        json.dumps(
            {
                "Service": "Amazon S3",
                "Event": "s3:TestEvent",
                "Time": "2026-11-27T10:15:30.123Z",
                "Bucket": "erp-ingest",
                "RequestId": "5582815E1AEA5ADF",
                "HostId": "8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eK",
            }
        )
    )
    assert n.is_test_event and n.events == () and n.created == ()


@pytest.mark.parametrize("version", ["2.0", "2.1", "2.2", "2.3", "2.9", "2"])
def test_every_major_version_2_is_accepted(version):
    [obj] = parse_notification(body(record(eventVersion=version))).created
    assert obj.bucket == "erp-ingest"


@pytest.mark.parametrize("version", ["1.0", "3.0", "10.1"])
def test_other_major_versions_are_refused(version):
    with pytest.raises(MessageUnreadable, match="eventVersion"):
        parse_notification(body(record(eventVersion=version)))


def test_unknown_fields_are_ignored():
    rec = record()
    rec["glacierEventData"] = {"restoreEventData": {}}
    rec["s3"]["object"]["newField"] = {"anything": [1, 2]}
    rec["s3"]["bucket"]["futureThing"] = True
    doc = {"Records": [rec], "somethingNew": 1}
    [obj] = parse_notification(json.dumps(doc)).created
    assert obj.key.startswith("orders/")


def test_several_records_in_one_message_in_order():
    records = [record(key=f"orders/2026/11/27/10/file-{n}") for n in range(5)]
    records.insert(2, record(key="orders/gone", eventName="ObjectRemoved:Delete"))
    n = parse_notification(body(*records))
    assert len(n.events) == 6
    assert [o.key for o in n.created] == [f"orders/2026/11/27/10/file-{i}" for i in range(5)]
    assert [e.event_name for e in n.events if not e.is_created] == ["ObjectRemoved:Delete"]


@pytest.mark.parametrize(
    "name", ["ObjectCreated:Put", "ObjectCreated:Post", "ObjectCreated:Copy", "ObjectCreated:CompleteMultipartUpload"]
)
def test_every_object_created_event_registers(name):
    assert len(parse_notification(body(record(eventName=name))).created) == 1


@pytest.mark.parametrize(
    "name",
    ["ObjectRemoved:Delete", "ObjectRemoved:DeleteMarkerCreated", "ObjectRestore:Completed", "ObjectAcl:Put"],
)
def test_other_events_are_read_and_ignored(name):
    n = parse_notification(body(record(eventName=name)))
    assert len(n.events) == 1 and n.created == ()


def test_missing_optional_fields():
    rec = record(s3__object__versionId=_DROP, s3__object__sequencer=_DROP, s3__object__size=_DROP, eventTime=_DROP)
    [obj] = parse_notification(body(rec)).created
    assert (obj.version_id, obj.sequencer, obj.size, obj.event_time) == ("", "", None, None)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-27T10:15:30.123Z", datetime(2026, 11, 27, 10, 15, 30, 123000, tzinfo=UTC)),
        ("2026-11-27T10:15:30Z", datetime(2026, 11, 27, 10, 15, 30, tzinfo=UTC)),
        ("2026-11-27T10:15:30.123456789Z", datetime(2026, 11, 27, 10, 15, 30, 123456, tzinfo=UTC)),
        ("2026-11-27T10:15:30+02:00", datetime(2026, 11, 27, 8, 15, 30, tzinfo=UTC)),
        ("2026-11-27T10:15:30.5-0130", datetime(2026, 11, 27, 11, 45, 30, 500000, tzinfo=UTC)),
        ("2026-11-27 10:15:30", datetime(2026, 11, 27, 10, 15, 30, tzinfo=UTC)),
        ("2026-11-27T10:15Z", datetime(2026, 11, 27, 10, 15, tzinfo=UTC)),
        ("2026-11-27t10:15:30z", datetime(2026, 11, 27, 10, 15, 30, tzinfo=UTC)),
    ],
)
def test_event_time_is_parsed_loosely(text, expected):
    parsed = parse_event_time(text)
    assert parsed == expected
    assert parsed.utcoffset() == timedelta(0)


@pytest.mark.parametrize("text", ["yesterday", "2026-13-01T00:00:00Z", "2026-11-27T25:00:00Z", "1700000000"])
def test_bad_event_time_is_unreadable(text):
    with pytest.raises(MessageUnreadable, match="eventTime"):
        parse_event_time(text)


def test_event_time_keeps_its_instant():
    offset = timezone(timedelta(hours=-5))
    assert parse_event_time("2026-11-27T05:15:30-05:00") == datetime(2026, 11, 27, 5, 15, 30, tzinfo=offset)


def test_sns_wrapped_notification():
    envelope = {
        "Type": "Notification",
        "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
        "TopicArn": "arn:aws:sns:us-east-1:123456789012:ingest",
        "Subject": "Amazon S3 Notification",
        "Message": body(record(key="orders/x+y")),
        "Timestamp": "2026-11-27T10:15:31.000Z",
    }
    [obj] = parse_notification(json.dumps(envelope)).created
    assert obj.key == "orders/x y"


def test_sns_wrapped_test_event():
    envelope = {"Type": "Notification", "Message": json.dumps({"Event": "s3:TestEvent", "Bucket": "b"})}
    assert parse_notification(json.dumps(envelope)).is_test_event


def test_eventbridge_object_created():
    event = {
        "version": "0",
        "id": "17793124-05d4-b198-2fde-7ededc63b103",
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": "123456789012",
        "time": "2026-11-27T10:15:30Z",
        "region": "us-east-1",
        "resources": ["arn:aws:s3:::erp-ingest"],
        "detail": {
            "version": "0",
            "bucket": {"name": "erp-ingest"},
            "object": {
                "key": "orders/a b",
                "size": 5,
                "etag": "b1946ac92492d2347c6235b4d2611184",
                "version-id": "IYV3p45BT0ac8hjHg1houSdS1a.Mro8e",
                "sequencer": "617f08299329d189",
            },
            "request-id": "N4N7GDK58NMKJ12R",
            "reason": "PutObject",
        },
    }
    [obj] = parse_notification(json.dumps(event)).created
    assert (obj.bucket, obj.key, obj.size) == ("erp-ingest", "orders/a b", 5)
    assert obj.version_id == "IYV3p45BT0ac8hjHg1houSdS1a.Mro8e"
    assert obj.event_time == datetime(2026, 11, 27, 10, 15, 30, tzinfo=UTC)
    event["detail-type"] = "Object Deleted"
    assert parse_notification(json.dumps(event)).created == ()


def test_bytes_body():
    assert len(parse_notification(body(record()).encode()).created) == 1


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "not JSON"),
        ("this is not json {", "not JSON"),
        ("[1, 2]", "not an object"),
        ('"a string"', "not an object"),
        ('{"hello": "world"}', "no Records"),
        ('{"Records": []}', "no records"),
        ('{"Records": "x"}', "no Records"),
        ('{"Records": [42]}', "not an object"),
        (json.dumps({"Records": [{"eventVersion": "2.1", "s3": {}}]}), "no eventName"),
        (json.dumps({"Records": [{"eventVersion": "2.1", "eventName": "ObjectCreated:Put"}]}), "no s3"),
        (json.dumps({"Type": "Notification", "Message": "{not json"}), "SNS Message is not JSON"),
    ],
)
def test_unreadable_bodies_raise_a_clear_error(raw, reason):
    with pytest.raises(MessageUnreadable, match=reason):
        parse_notification(raw)


def test_record_without_key_or_bucket():
    with pytest.raises(MessageUnreadable, match=r"s3\.object\.key"):
        parse_notification(body(record(s3__object__key=_DROP)))
    with pytest.raises(MessageUnreadable, match=r"s3\.bucket\.name"):
        parse_notification(body(record(s3__bucket__name="")))
    with pytest.raises(MessageUnreadable, match="size"):
        parse_notification(body(record(s3__object__size="12")))
