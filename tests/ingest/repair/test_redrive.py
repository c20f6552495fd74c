"""Firehose's error output registered record by record, and redriven through today's transform:
what passes is loaded exactly once, what fails stays listed with the new reason (moto S3, the
local Firehose stand-in writing the error objects, the real importer)."""

from __future__ import annotations

import base64
import json
import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from prometheus_client import REGISTRY

from ingest.models import FailedRecord, FailedRecordStatus, ImportFile, ImportStatus
from ingest.services.importing.run import import_file
from ingest.services.intake.error_output import register_error_object, stream_of_error_key
from ingest.services.intake.registration import S3Object, register_s3_object
from ingest.services.repair.redrive import redrive
from ingest.testing.aws import ERROR_PREFIX, keys
from ingest.testing.failed_records import BUG_MESSAGE, land_rejected
from ingest.testing.samples import invalid_order, order_events
from website.models import Order

pytestmark = pytest.mark.django_db(transaction=True)


class Doorbell:
    def __init__(self, down: bool = False) -> None:
        self.enqueued_again: list[int] = []
        self.down = down

    def __call__(self, import_file_id: int) -> None:
        if self.down:
            raise ConnectionError("broker unreachable")
        self.enqueued_again.append(import_file_id)


@pytest.fixture
def landed(s3, bucket):
    """4 valid orders of which 2 are rush orders (the buggy release fails them) and 2 invalid events."""
    events = order_events(4, run="redrive")
    invalid = [invalid_order(0), invalid_order(1)]
    land_rejected(bucket, events + invalid)
    for data_key in s3.list_objects_v2(Bucket=bucket, Prefix="orders/")["Contents"]:
        etag = data_key["ETag"]
        f, _ = register_s3_object(S3Object(bucket, data_key["Key"], etag, data_key["Size"]), registered_by="command")
        assert import_file(f.pk).status == ImportStatus.IMPORTED
    [key] = keys(s3, bucket, ERROR_PREFIX)
    head = s3.head_object(Bucket=bucket, Key=key)
    error_file, created = register_error_object(bucket, key, etag=head["ETag"], size=head["ContentLength"])
    assert created
    return events, invalid, error_file


def test_every_line_of_an_error_object_becomes_a_listed_record(landed, s3, bucket):
    events, invalid, error_file = landed
    assert error_file.stream == "orders" and error_file.records_count == 4
    records = list(FailedRecord.objects.order_by("line_number"))
    assert [r.line_number for r in records] == [1, 2, 3, 4]
    bodies = [json.loads(base64.b64decode(r.raw_data)) for r in records]
    rush = [e for e in events if e["data"]["rush"]]
    assert sorted(b["eventId"] for b in bodies) == sorted(e["eventId"] for e in rush + invalid)
    for r in records:
        assert r.status == FailedRecordStatus.REJECTED and r.stream == "orders"
        assert r.error_code and r.reason and r.lambda_arn.startswith("arn:aws:lambda:")
        assert r.attempts_made == 1
        assert r.arrival_at and abs(r.arrival_at - datetime.now(UTC)) < timedelta(minutes=5)
        assert r.attempt_ending_at is not None and r.attempt_ending_at >= r.arrival_at

    # The same object announced again registers nothing new.
    again, created = register_error_object(bucket, error_file.key, etag=error_file.etag)
    assert not created and again.pk == error_file.pk
    assert FailedRecord.objects.count() == 4


def test_an_unreadable_error_line_is_kept_with_its_reason(s3, bucket):
    key = "errors/orders/processing-failed/2026/11/27/10/local-orders-1-2026-11-27-10-00-00-x"
    good = {
        "attemptsMade": 2,
        "arrivalTimestamp": 1764238530123,
        "errorCode": "Lambda.ProcessingFailed",
        "errorMessage": "bad",
        "attemptEndingTimestamp": 1764238531000,
        "rawData": "e30=",
        "lambdaArn": "arn:x",
    }
    body = (json.dumps(good) + "\n{not json\n").encode()
    etag = s3.put_object(Bucket=bucket, Key=key, Body=body)["ETag"]
    error_file, _ = register_error_object(bucket, key, etag=etag)
    first, second = FailedRecord.objects.filter(error_file=error_file).order_by("line_number")
    assert first.arrival_at == datetime(2025, 11, 27, 10, 15, 30, 123000, tzinfo=UTC)
    # rawData is "{}": today's transform says why, where Firehose said only "bad".
    assert first.attempts_made == 2 and first.reason == "eventId: is missing" and first.error_message == "bad"
    assert second.line_number == 2 and "not a Firehose error record" in second.reason
    assert second.error_message == "{not json"
    assert stream_of_error_key(key) == "orders" and stream_of_error_key("errors/nothing") == ""


def test_an_error_object_gone_before_it_is_read_is_recorded(s3, bucket):
    key = "errors/orders/processing-failed/2026/11/27/10/gone"
    error_file, created = register_error_object(bucket, key, etag="0123456789abcdef")
    assert created and error_file.records_count == 0 and "gone" in error_file.error_message
    assert register_error_object(bucket, key, etag="0123456789abcdef") == (error_file, False)


def test_redrive_loads_what_passes_once_and_keeps_what_fails(landed, bucket):
    events, _invalid, _error_file = landed
    assert Order.objects.count() == 2  # the two plain orders landed; the rush orders were rejected
    task = Doorbell()

    passed_before = REGISTRY.get_sample_value(
        "ingest_redriven_records_total", {"stream": "orders", "outcome": "passed"}
    )
    report = redrive(enqueue=task)
    assert (report.passed, report.still_failing) == (2, 2)
    passed_after = REGISTRY.get_sample_value("ingest_redriven_records_total", {"stream": "orders", "outcome": "passed"})
    assert passed_after == (passed_before or 0) + 2
    [file_id] = report.files
    assert task.enqueued_again == [file_id]
    f = ImportFile.objects.get(pk=file_id)
    assert (f.stream, f.registered_by, f.status, f.bucket) == ("orders", "redrive", ImportStatus.PENDING, bucket)
    assert f.key.startswith("redrive/orders/redrive-")
    redriven = FailedRecord.objects.filter(status=FailedRecordStatus.REDRIVEN)
    assert redriven.count() == 2 and {r.redriven_in_id for r in redriven} == {file_id}
    failing = FailedRecord.objects.filter(status=FailedRecordStatus.REJECTED)
    assert failing.count() == 2
    for r in failing:
        assert r.redrive_attempts == 1 and r.last_redrive_at
        assert "version" in r.reason and BUG_MESSAGE not in r.reason

    outcome = import_file(file_id)
    assert outcome.status == ImportStatus.IMPORTED and outcome.counts["rows_created"] == 2
    assert set(Order.objects.values_list("order_number", flat=True)) == {e["key"]["orderNumber"] for e in events}

    # Whatever is retried, nothing loads twice: the records are redriven, the file is imported.
    again = redrive(enqueue=task)
    assert (again.passed, again.still_failing, again.files) == (0, 2, [])
    assert import_file(file_id).skipped_reason == "already imported"
    assert ImportFile.objects.filter(registered_by="redrive").count() == 1
    assert Order.objects.count() == 4
    assert FailedRecord.objects.get(pk=failing[0].pk).redrive_attempts == 2


def test_a_failed_write_leaves_every_record_rejected(landed, bucket):
    with pytest.raises(Exception, match=r"NoSuchBucket|does not exist"):
        redrive(enqueue=Doorbell(), bucket="no-such-bucket-for-redrive")
    assert FailedRecord.objects.filter(status=FailedRecordStatus.REJECTED).count() == 4
    assert FailedRecord.objects.filter(redrive_attempts__gt=0).count() == 0
    assert not ImportFile.objects.filter(registered_by="redrive").exists()

    report = redrive(enqueue=Doorbell())
    assert report.passed == 2 and len(report.files) == 1


def test_a_lost_task_leaves_the_file_pending_for_the_sweep(landed):
    report = redrive(enqueue=Doorbell(down=True))
    [file_id] = report.files
    f = ImportFile.objects.get(pk=file_id)
    assert f.status == ImportStatus.PENDING and f.enqueued_at is None
    assert FailedRecord.objects.filter(status=FailedRecordStatus.REDRIVEN, redriven_in=f).count() == 2


def test_dry_run_changes_nothing(landed):
    report = redrive(dry_run=True, enqueue=Doorbell())
    assert (report.passed, report.still_failing, report.files) == (2, 2, [])
    assert FailedRecord.objects.filter(status=FailedRecordStatus.REJECTED, redrive_attempts=0).count() == 4
    assert not ImportFile.objects.filter(registered_by="redrive").exists()


def test_filters_by_stream_and_arrival_with_no_time_window(landed):
    # Records of long ago are redriven like today's.
    long_ago = datetime(2019, 1, 1, tzinfo=UTC)
    FailedRecord.objects.update(arrival_at=long_ago)
    assert redrive(stream="customers", enqueue=Doorbell()).passed == 0
    assert redrive(since=long_ago + timedelta(days=1), enqueue=Doorbell()).passed == 0
    assert redrive(until=long_ago, enqueue=Doorbell()).passed == 0
    report = redrive(since=long_ago, until=long_ago + timedelta(seconds=1), stream="orders", enqueue=Doorbell())
    assert report.passed == 2


def test_the_command(landed, settings):
    from io import StringIO

    settings.CELERY_TASK_ALWAYS_EAGER = True
    out = StringIO()
    call_command("redrive", "--dry-run", stdout=out)
    assert "redrive (dry run): 2 would pass, 2 still fail" in out.getvalue()
    out = StringIO()
    call_command("redrive", "--stream", "orders", "--since", "2000-01-01", stdout=out)
    assert "redrive: 2 pass, 2 still fail" in out.getvalue()
    assert FailedRecord.objects.filter(status=FailedRecordStatus.REDRIVEN).count() == 2


@pytest.mark.postgres
def test_concurrent_redrives_take_each_record_once(s3, bucket):
    events = order_events(40, run="race")
    land_rejected(bucket, events)
    for key in keys(s3, bucket, ERROR_PREFIX):
        register_error_object(bucket, key, etag=s3.head_object(Bucket=bucket, Key=key)["ETag"])
    assert FailedRecord.objects.count() == 20
    reports, errors = [], []

    def run() -> None:
        try:
            reports.append(redrive(enqueue=Doorbell(), chunk_size=3))
        except Exception as exc:  # pragma: no cover - shown by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sum(r.passed for r in reports) == 20
    files = [pk for r in reports for pk in r.files]
    assert len(files) == len(set(files))
    per_file = FailedRecord.objects.values_list("redriven_in", flat=True)
    assert None not in per_file and len(list(per_file)) == 20
