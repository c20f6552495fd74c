"""Re-importing selected files and the --missing sweep, in this process, against moto's S3."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from ingest.models import ImportFile, ImportStatus
from ingest.services.importing.run import import_file
from ingest.services.intake.registration import S3Object, register_s3_object
from ingest.services.repair import reimport as reimport_service
from ingest.services.repair.reimport import find_missing_objects, parse_when, reimport_files, select_files
from ingest.testing.database import held_by_another_worker
from ingest.testing.samples import firehose_body, firehose_key, order_events
from website.models import Order

pytestmark = pytest.mark.django_db(transaction=True)


def put(s3, settings, key: str, lines: int = 3, start: int = 0) -> str:
    body = firehose_body(order_events(lines, start=start))
    return s3.put_object(Bucket=settings.INGEST_BUCKET, Key=key, Body=body)["ETag"].strip('"')


def put_and_register(s3, settings, lines: int = 3, start: int = 0, stream: str = "orders") -> ImportFile:
    key = firehose_key(stream)
    etag = put(s3, settings, key, lines, start)
    f, _ = register_s3_object(S3Object(bucket=settings.INGEST_BUCKET, key=key, etag=etag))
    return f


def test_parse_when():
    assert parse_when("2026-11-27") == datetime(2026, 11, 27, tzinfo=UTC)
    assert parse_when("2026-11-27", end=True) == datetime(2026, 11, 28, tzinfo=UTC)
    assert parse_when(date(2026, 11, 27), end=True) == datetime(2026, 11, 28, tzinfo=UTC)
    assert parse_when("2026-11-27T10:15:00") == datetime(2026, 11, 27, 10, 15, tzinfo=UTC)
    assert parse_when("2026-11-27T10:15:00+02:00") == datetime(2026, 11, 27, 8, 15, tzinfo=UTC)
    assert parse_when("2026-11-27 10:15", end=True) == datetime(2026, 11, 27, 10, 15, tzinfo=UTC)
    with pytest.raises(ValueError, match="neither a date"):
        parse_when("last tuesday")


def test_select_files_filters():
    def make(key, stream, status, created):
        f = ImportFile.objects.create(bucket="b", key=key, etag=key, stream=stream, status=status)
        ImportFile.objects.filter(pk=f.pk).update(created_at=created)
        return f.pk

    day = datetime(2026, 11, 27, 12, tzinfo=UTC)
    a = make("orders/2026/11/26/a", "orders", "imported", day - timedelta(days=1))
    b = make("orders/2026/11/27/b", "orders", "failed", day)
    c = make("customers/2026/11/27/c", "customers", "failed", day + timedelta(hours=11))
    d = make("customers/2026/11/28/d", "customers", "imported", day + timedelta(days=1))

    def ids(**filters):
        return list(select_files(**filters).values_list("pk", flat=True))

    assert ids(ids=[c, a]) == [a, c]
    assert ids(key="orders/2026/11/27/b") == [b]
    assert ids(prefix="customers/") == [c, d]
    assert ids(stream="orders") == [a, b]
    assert ids(status="failed") == [b, c]
    assert ids(status=["failed", "imported"]) == [a, b, c, d]
    assert ids(since="2026-11-27") == [b, c, d]
    assert ids(until="2026-11-27") == [a, b, c]  # the whole day
    assert ids(since="2026-11-27", until="2026-11-27T18:00:00") == [b]
    assert ids(stream="customers", status="failed", since=date(2026, 11, 27)) == [c]


def test_sync_reimport_runs_again_and_keeps_the_history(s3, bucket, settings):
    f = put_and_register(s3, settings, lines=4)
    assert import_file(f.pk).status == "imported"
    report = reimport_files(ImportFile.objects.filter(pk=f.pk), sync=True)
    assert report.selected == 1 and [o.status for o in report.imported] == ["imported"]
    f.refresh_from_db()
    assert f.status == "imported" and f.attempts_count == 2
    assert list(f.attempts.values_list("number", "trigger", "status")) == [
        (1, "task", "imported"),
        (2, "reimport", "imported"),
    ]
    assert Order.objects.count() == 4  # the same events again: nothing new
    assert "1 selected, 1 imported" in report.summary()


def test_dry_run_changes_nothing(s3, bucket, settings):
    f = put_and_register(s3, settings)
    import_file(f.pk)
    before = ImportFile.objects.values().get(pk=f.pk)
    report = reimport_files([f], dry_run=True, sync=True)
    assert report.planned == [f.pk] and report.imported == [] and report.enqueued == []
    assert ImportFile.objects.values().get(pk=f.pk) == before
    assert "would be re-imported" in report.summary()


def test_enqueued_reimport_sets_pending_and_rings(s3, bucket, settings):
    f = put_and_register(s3, settings)
    import_file(f.pk)
    enqueued_again: list[int] = []
    report = reimport_files(ImportFile.objects.filter(pk=f.pk), enqueue=enqueued_again.append)
    assert report.enqueued == [f.pk] == enqueued_again
    f.refresh_from_db()
    assert f.status == "pending" and f.enqueued_at is not None and f.error_message == ""


def test_enqueue_failure_leaves_the_file_pending_for_the_sweep(s3, bucket, settings):
    f = put_and_register(s3, settings)

    def broker_down(_pk):
        raise ConnectionError("Connection refused")

    report = reimport_files([f], enqueue=broker_down)
    assert report.enqueued == [] and report.skipped[0][0] == f.pk and "sweep" in report.skipped[0][1]
    f.refresh_from_db()
    assert f.status == "pending" and f.enqueued_at is None


def test_failed_file_is_visible_and_reimportable(s3, bucket, settings, capsys):
    key = firehose_key("orders")
    body = firehose_body(order_events(6))
    etag = hashlib.md5(body).hexdigest()
    f, _ = register_s3_object(S3Object(bucket=settings.INGEST_BUCKET, key=key, etag=etag))
    outcome = import_file(f.pk)  # announced, but not there (yet)
    assert outcome.failed
    f.refresh_from_db()
    assert f.status == ImportStatus.FAILED and "NoSuchKey" in f.error_message

    s3.put_object(Bucket=settings.INGEST_BUCKET, Key=key, Body=body)
    call_command("reimport", "--status", "failed", "--sync")
    out = capsys.readouterr().out
    assert f"file #{f.pk}" in out and "1 selected, 1 imported" in out
    f.refresh_from_db()
    assert f.status == "imported" and f.error_message == ""
    assert list(f.attempts.values_list("status", flat=True)) == ["failed", "imported"]
    assert Order.objects.count() == 6


def test_find_missing_objects_pages_through_every_stream_prefix(s3, bucket, settings, monkeypatch):
    monkeypatch.setattr(reimport_service, "LIST_PAGE_SIZE", 2)
    bucket = settings.INGEST_BUCKET
    known = put_and_register(s3, settings)
    missing_keys = [firehose_key("orders") for _ in range(4)] + [firehose_key("order-lines"), firehose_key("estimates")]
    for n, key in enumerate(missing_keys):
        put(s3, settings, key, start=n * 3)
    # Same key, new content: the registered ETag is the old one, so the object counts as missing.
    changed = put_and_register(s3, settings)
    new_etag = put(s3, settings, changed.key, lines=5)
    s3.put_object(Bucket=bucket, Key="elsewhere/x", Body=b"not under a stream prefix")
    s3.put_object(Bucket=bucket, Key="orders/", Body=b"")  # a "folder" marker

    found = find_missing_objects(bucket)
    assert sorted(o.key for o in found) == sorted([*missing_keys, changed.key])
    assert known.key not in {o.key for o in found}
    by_key = {o.key: o for o in found}
    assert by_key[changed.key].etag == new_etag
    assert all(o.size and o.event_time and o.bucket == bucket for o in found)


def test_reimport_missing_command(s3, bucket, settings, capsys):
    keys = [firehose_key("orders") for _ in range(3)]
    for n, key in enumerate(keys):
        put(s3, settings, key, lines=2, start=n * 2)

    call_command("reimport", "--missing", "--dry-run")
    assert capsys.readouterr().out.count("would import") == 3
    assert ImportFile.objects.count() == 0

    call_command("reimport", "--missing", "--sync")
    out = capsys.readouterr().out
    assert "3 object(s) without a file, 3 registered, 3 selected, 3 imported" in out
    assert set(ImportFile.objects.values_list("registered_by", "status")) == {("sweep", "imported")}
    assert Order.objects.count() == 6
    f = ImportFile.objects.first()
    assert f is not None and f.s3_event_time is not None and f.lag_seconds is not None

    call_command("reimport", "--missing", "--sync")
    assert "0 selected" in capsys.readouterr().out


def test_command_needs_a_selection():
    with pytest.raises(CommandError, match="select files"):
        call_command("reimport")
    with pytest.raises(CommandError, match="neither a date"):
        call_command("reimport", "--since", "soon")


def test_command_dry_run_lists_the_selection(capsys):
    f = ImportFile.objects.create(bucket="b", key="orders/x", etag="1", status="failed")
    call_command("reimport", "--id", str(f.pk), "--dry-run")
    out = capsys.readouterr().out
    assert f"would re-import file #{f.pk} s3://b/orders/x (failed)" in out
    assert ImportFile.objects.get(pk=f.pk).status == "failed"


@pytest.mark.postgres
def test_a_file_being_imported_is_skipped(s3, bucket, settings):
    f = put_and_register(s3, settings)
    ImportFile.objects.filter(pk=f.pk).update(status="running", started_at=timezone.now())
    with held_by_another_worker(f.pk):
        report = reimport_files([f], sync=True)
    assert report.skipped == [(f.pk, "being imported right now")]
