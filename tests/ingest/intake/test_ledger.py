"""Exactly once after pruning: every path that registers a file because S3 announced it consults
the ledger (ingest/services/intake/ledger.py), and an explicit re-import still imports a pruned file.
Against moto's S3 and SQS (real bucket notifications) and the real database."""

from __future__ import annotations

import uuid
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command

from ingest.models import ImportFile, ImportLedgerEntry, ImportStatus
from ingest.services.importing.run import import_file
from ingest.services.intake import ledger
from ingest.services.intake.registration import S3Object
from ingest.services.repair.reimport import find_missing_objects, reimport_missing
from ingest.services.retention import prune as retention
from ingest.testing.aws import aws_clients, create_bucket_and_queue
from ingest.testing.samples import firehose_body, firehose_key, notification_body, order_events
from tests.ingest.intake.test_consumer import Doorbell, consumer_for, messages_left
from tests.ingest.retention.test_prune import age
from website.models import Order

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def queue(aws):
    s3, sqs = aws_clients(aws)
    url = create_bucket_and_queue(s3, sqs, settings.INGEST_BUCKET, f"ledger-{uuid.uuid4().hex[:8]}")
    return s3, sqs, url


@pytest.fixture
def task() -> Doorbell:
    return Doorbell()


def imported_and_pruned(queue, task, *, days: float = 365, events: int = 3) -> tuple[str, str, bytes]:
    """An object announced by its real notification, imported, then aged ``days`` and pruned."""
    s3, _sqs, url = queue
    key = firehose_key("orders")
    body = firehose_body(order_events(events, run="ledger"))
    etag = s3.put_object(Bucket=settings.INGEST_BUCKET, Key=key, Body=body)["ETag"].strip('"')
    consumer_for(url, task).run(max_messages=2)  # the s3:TestEvent and the notification
    f = ImportFile.objects.get(key=key)
    assert import_file(f.pk).status == ImportStatus.IMPORTED
    age(f, days)
    assert retention.prune(pause=0, kinds=("import_files",)).removed["import_files"] == 1
    assert not ImportFile.objects.filter(key=key).exists()
    return key, etag, body


def test_a_notification_redelivered_a_year_later_imports_nothing(queue, task):
    _s3, sqs, url = queue
    key, etag, body = imported_and_pruned(queue, task, days=365)
    rung_before = list(task.enqueued_again)
    sqs.send_message(QueueUrl=url, MessageBody=notification_body(settings.INGEST_BUCKET, key, etag, len(body)))
    consumer = consumer_for(url, task)
    result = consumer.handle(consumer.receive()[0])
    assert result.registered == [] and result.enqueued == [] and result.ignored_events == 1
    assert result.deleted and messages_left(sqs, url) == 0
    assert task.enqueued_again == rung_before
    assert not ImportFile.objects.filter(key=key).exists()
    assert ImportLedgerEntry.objects.filter(key=key, etag=etag).count() == 1


def test_the_consumer_still_registers_new_content_under_a_pruned_key(queue, task):
    s3, _sqs, url = queue
    key, etag, _body = imported_and_pruned(queue, task)
    new_etag = s3.put_object(Bucket=settings.INGEST_BUCKET, Key=key, Body=firehose_body(order_events(2, start=50)))[
        "ETag"
    ].strip('"')
    assert new_etag != etag
    summary = consumer_for(url, task).run(max_messages=1)
    assert summary.registered == 1
    assert list(ImportFile.objects.filter(key=key).values_list("etag", flat=True)) == [new_etag]


def test_reimport_missing_over_the_whole_bucket_skips_pruned_files(queue, task):
    s3, _sqs, _url = queue
    key, _etag, _body = imported_and_pruned(queue, task)
    assert find_missing_objects(settings.INGEST_BUCKET) == []
    # An object no notification announced is still found and imported.
    other = firehose_key("orders", name="never-announced")
    s3.put_object(Bucket=settings.INGEST_BUCKET, Key=other, Body=firehose_body(order_events(2, start=70)))
    report = reimport_missing(settings.INGEST_BUCKET, sync=True)
    assert [o.key for o in report.missing] == [other]
    assert not ImportFile.objects.filter(key=key).exists()
    assert ImportFile.objects.get(key=other).status == ImportStatus.IMPORTED

    out = StringIO()
    call_command("reimport", "--missing", "--dry-run", stdout=out)
    assert key not in out.getvalue()


def test_the_sweep_never_rings_a_pruned_file_and_never_loses_a_pending_one(queue, task):
    _s3, _sqs, url = queue
    imported_and_pruned(queue, task)
    # A pending file whose task was lost long ago: never pruned, still enqueued_again by the sweep.
    lost = ImportFile.objects.create(bucket=settings.INGEST_BUCKET, key="orders/lost", etag="e", stream="orders")
    age(lost, 400)
    retention.prune(pause=0)
    task.enqueued_again.clear()
    enqueued_again = consumer_for(url, task, requeue_after=0).sweep()
    assert enqueued_again == [lost.pk] and task.enqueued_again == [lost.pk]


def test_an_explicit_reimport_of_a_pruned_file_imports_it_again(queue, task):
    key, etag, _body = imported_and_pruned(queue, task)
    Order.objects.all().delete()  # the website lost its rows: the operator wants the file again

    out = StringIO()
    call_command("reimport", "--key", key, "--dry-run", stdout=out)
    assert "would import pruned file" in out.getvalue()
    assert not ImportFile.objects.filter(key=key).exists()

    out = StringIO()
    call_command("reimport", "--key", key, "--sync", stdout=out)
    f = ImportFile.objects.get(key=key)
    assert (f.etag, f.status) == (etag, ImportStatus.IMPORTED)
    assert Order.objects.count() == 3
    assert ImportLedgerEntry.objects.filter(key=key).count() == 1  # it was imported; still true

    # Pruned a second time: the one ledger entry now names the newer file.
    age(f, 365)
    retention.prune(pause=0, kinds=("import_files",))
    assert ImportLedgerEntry.objects.get(key=key).import_file_id == f.pk


def test_import_file_of_a_pruned_object_imports_it_when_asked(queue, task):
    key, _etag, _body = imported_and_pruned(queue, task)
    out = StringIO()
    call_command("import_file", f"s3://{settings.INGEST_BUCKET}/{key}", stdout=out)
    assert ImportFile.objects.get(key=key).status == ImportStatus.IMPORTED


def test_reimport_by_the_pruned_id(queue, task):
    key, _etag, _body = imported_and_pruned(queue, task)
    old_id = ImportLedgerEntry.objects.get(key=key).import_file_id
    call_command("reimport", "--id", str(old_id), "--sync", stdout=StringIO())
    assert ImportFile.objects.get(key=key).status == ImportStatus.IMPORTED


def test_register_unless_pruned_reads_the_file_before_the_ledger(db):
    obj = S3Object(bucket="b", key="orders/x", etag='"abc"')
    f, created = ledger.register_unless_pruned(obj, registered_by="notification")
    assert created and f is not None
    # The file and a ledger entry both exist (re-imported on purpose): the file answers.
    ImportLedgerEntry.objects.create(import_file_id=1, bucket="b", key="orders/x", etag="abc", pruned_at=f.created_at)
    again, created = ledger.register_unless_pruned(obj, registered_by="notification")
    assert again is not None and again.pk == f.pk and not created
    ImportFile.objects.filter(pk=f.pk).delete()
    assert ledger.register_unless_pruned(obj, registered_by="notification") == (None, False)
    assert ledger.known_in_ledger("b", ["orders/x", "orders/y"]) == {("orders/x", "abc")}


@pytest.mark.postgres
def test_a_prune_racing_a_redelivery_leaves_exactly_one_import():
    """The prune holds the file's row; the consumer registering the same object meanwhile either
    finds the file (before the prune commits) or the ledger entry (after): never neither."""
    import threading

    from django.db import connections

    key = firehose_key("orders")
    f = ImportFile.objects.create(
        bucket=settings.INGEST_BUCKET, key=key, etag="e1", stream="orders", status=ImportStatus.IMPORTED
    )
    age(f, 365)
    results: list[tuple[ImportFile | None, bool]] = []

    def redeliver() -> None:
        try:
            for _ in range(200):
                results.append(
                    ledger.register_unless_pruned(
                        S3Object(bucket=settings.INGEST_BUCKET, key=key, etag="e1"), registered_by="notification"
                    )
                )
        finally:
            connections.close_all()

    thread = threading.Thread(target=redeliver)
    thread.start()
    retention.prune(pause=0, kinds=("import_files",))
    thread.join(30)
    assert all(not created for _f, created in results)
    assert not ImportFile.objects.filter(key=key).exists()
    assert ImportLedgerEntry.objects.filter(key=key).count() == 1
