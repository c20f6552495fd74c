"""Reading S3 event notifications as SQS delivers them: pure functions, no I/O.

A message body is one of
- an S3 notification: ``{"Records": [...]}``, one or more records (AWS sends one, but the
  format allows several and other producers batch them);
- an ``s3:TestEvent`` that S3 sends when notifications are configured: skipped;
- the same notification wrapped by SNS (``{"Type": "Notification", "Message": "<json>"}``)
  when the bucket notifies a topic that fans out to the queue;
- an EventBridge "Object Created" event (``{"detail-type": ..., "source": "aws.s3", ...}``).

Keys arrive URL-encoded the way HTML forms are (``+`` for a space, ``%2F`` possibly for ``/``):
``unquote_plus`` gives the real key. Only ``ObjectCreated:*`` records name files to import;
anything else (``ObjectRemoved:*``, ...) is read and ignored. Unknown fields are ignored, and any
eventVersion with major version 2 is accepted, as AWS asks of consumers.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import unquote_plus

from ingest.services.intake.registration import S3Object

SUPPORTED_MAJOR_VERSION = "2"
_TIME_RE = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?\s*(?:([Zz])|([+-])(\d{2}):?(\d{2})?)?$"
)


class MessageUnreadable(ValueError):
    """A message body that is not an S3 notification we can read; ``str(e)`` says why."""


@dataclass(frozen=True)
class ObjectEvent:
    """One record of a notification: what happened to which object, and when."""

    event_name: str
    s3_object: S3Object

    @property
    def is_created(self) -> bool:
        return self.event_name.startswith("ObjectCreated:") or self.event_name == "ObjectCreated"


@dataclass(frozen=True)
class Notification:
    """What one message says: its records, or that it is a test event with nothing to do."""

    events: tuple[ObjectEvent, ...] = ()
    is_test_event: bool = False

    @property
    def created(self) -> tuple[S3Object, ...]:
        return tuple(e.s3_object for e in self.events if e.is_created)


def parse_event_time(value: object) -> datetime | None:
    """``2026-11-27T10:15:30.123Z``, with or without a fraction, ``Z`` or an offset; None if absent.

    A time without an offset is taken as UTC (S3 always sends UTC)."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise MessageUnreadable(f"eventTime must be a string, not {type(value).__name__}")
    m = _TIME_RE.match(value.strip())
    if not m:
        raise MessageUnreadable(f"eventTime {value!r} is not a timestamp")
    year, month, day, hour, minute, second, fraction, _zulu, sign, off_h, off_m = m.groups()
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    tz = UTC
    if sign:
        offset = timedelta(hours=int(off_h), minutes=int(off_m or 0))
        tz = timezone(-offset if sign == "-" else offset)
    try:
        moment = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second or 0), micro, tzinfo=tz)
    except ValueError as exc:
        raise MessageUnreadable(f"eventTime {value!r}: {exc}") from exc
    return moment.astimezone(UTC)


def decode_key(raw: str) -> str:
    """An S3 notification's object key as the object is named (``a+b%2Fc`` -> ``a b/c``)."""
    return unquote_plus(raw)


def _major_version(value: object) -> str:
    return str(value).strip().split(".", 1)[0]


def _parse_record(record: object, index: int) -> ObjectEvent:
    where = f"Records[{index}]"
    if not isinstance(record, dict):
        raise MessageUnreadable(f"{where} is not an object")
    version = record.get("eventVersion")
    if version is not None and _major_version(version) != SUPPORTED_MAJOR_VERSION:
        raise MessageUnreadable(f"{where}: eventVersion {version!r} is not a 2.x S3 event")
    event_name = record.get("eventName")
    if not isinstance(event_name, str) or not event_name:
        raise MessageUnreadable(f"{where}: no eventName")
    s3 = record.get("s3")
    if not isinstance(s3, dict):
        raise MessageUnreadable(f"{where}: no s3 member")
    bucket = s3.get("bucket") or {}
    obj = s3.get("object") or {}
    if not isinstance(bucket, dict) or not isinstance(obj, dict):
        raise MessageUnreadable(f"{where}: s3.bucket and s3.object must be objects")
    bucket_name = bucket.get("name")
    raw_key = obj.get("key")
    if not isinstance(bucket_name, str) or not bucket_name:
        raise MessageUnreadable(f"{where}: no s3.bucket.name")
    if not isinstance(raw_key, str) or not raw_key:
        raise MessageUnreadable(f"{where}: no s3.object.key")
    size = obj.get("size")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int)):
        raise MessageUnreadable(f"{where}: s3.object.size {size!r} is not an integer")
    name = event_name[3:] if event_name.startswith("s3:") else event_name
    return ObjectEvent(
        event_name=name,
        s3_object=S3Object(
            bucket=bucket_name,
            key=decode_key(raw_key),
            etag=str(obj.get("eTag") or obj.get("etag") or "").strip('"'),
            size=size,
            version_id=str(obj.get("versionId") or ""),
            sequencer=str(obj.get("sequencer") or ""),
            event_time=parse_event_time(record.get("eventTime")),
        ),
    )


def _parse_eventbridge(doc: dict) -> Notification:
    detail = doc.get("detail")
    if not isinstance(detail, dict):
        raise MessageUnreadable("EventBridge event without a detail object")
    bucket = (detail.get("bucket") or {}).get("name")
    obj = detail.get("object") or {}
    key = obj.get("key")
    if not isinstance(bucket, str) or not bucket or not isinstance(key, str) or not key:
        raise MessageUnreadable("EventBridge S3 event without detail.bucket.name and detail.object.key")
    # EventBridge keys are not URL-encoded.
    detail_type = str(doc.get("detail-type", ""))
    name = "ObjectCreated:" + str(detail.get("reason", "")) if detail_type == "Object Created" else detail_type
    size = obj.get("size")
    return Notification(
        events=(
            ObjectEvent(
                event_name=name,
                s3_object=S3Object(
                    bucket=bucket,
                    key=key,
                    etag=str(obj.get("etag") or obj.get("eTag") or "").strip('"'),
                    size=size if isinstance(size, int) and not isinstance(size, bool) else None,
                    version_id=str(obj.get("version-id") or ""),
                    sequencer=str(obj.get("sequencer") or ""),
                    event_time=parse_event_time(doc.get("time")) if isinstance(doc.get("time"), str) else None,
                ),
            ),
        )
    )


def _load(body: str | bytes, what: str) -> object:
    try:
        return json.loads(body)
    except (ValueError, TypeError) as exc:
        raise MessageUnreadable(f"{what} is not JSON: {exc}") from exc
    except RecursionError:
        raise MessageUnreadable(f"{what} is nested too deeply to read") from None


def parse_notification(body: str | bytes) -> Notification:
    """What a message body announces; raises MessageUnreadable for anything else."""
    doc = _load(body, "the message body")
    if isinstance(doc, dict) and doc.get("Type") == "Notification" and "Message" in doc:
        message = doc["Message"]
        doc = _load(message, "the SNS Message") if isinstance(message, str | bytes) else message
    if not isinstance(doc, dict):
        raise MessageUnreadable(f"the message body is a JSON {type(doc).__name__}, not an object")
    if doc.get("Event") == "s3:TestEvent":
        return Notification(is_test_event=True)
    if doc.get("source") == "aws.s3" and "detail" in doc:
        return _parse_eventbridge(doc)
    records = doc.get("Records")
    if not isinstance(records, list):
        raise MessageUnreadable("not an S3 notification: no Records list")
    if not records:
        raise MessageUnreadable("an S3 notification with no records")
    return Notification(events=tuple(_parse_record(r, i) for i, r in enumerate(records)))
