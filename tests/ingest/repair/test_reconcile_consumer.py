"""Snapshots that land in the bucket: registered by the consumer once per content, reconciled by the
worker's task; missing and behind repaired by default, content and deletes never without an operator."""

from __future__ import annotations

import gzip
import json
import uuid

import pytest

from ingest.models import ImportFile
from ingest.models.reconciliation import ReconciliationRun
from ingest.services.intake.consumer import ConsumerOptions, EventConsumer
from ingest.services.repair.reconcile.registration import sweep_runs
from ingest.testing.aws import aws_clients, create_bucket_and_queue
from ingest.testing.samples import order_event
from ingest.testing.snapshots import full_line, header
from website.models import Order

pytestmark = pytest.mark.django_db(transaction=True)

TAKEN = "2026-11-28T00:00:00Z"


@pytest.fixture
def queue(aws, settings):
    s3, sqs = aws_clients(aws)
    url = create_bucket_and_queue(s3, sqs, settings.INGEST_BUCKET, f"reconcile-{uuid.uuid4().hex[:8]}")
    settings.CELERY_TASK_ALWAYS_EAGER = True
    return s3, sqs, url


def snapshot_body() -> bytes:
    lines = [header("orders", TAKEN), full_line(order_event("SO-NEW", 1)), full_line(order_event("SO-1", 1, total="9"))]
    return gzip.compress("".join(json.dumps(line) + "\n" for line in lines).encode(), mtime=0)


def consume(url: str, messages: int) -> None:
    files: list[int] = []
    consumer = EventConsumer(
        ConsumerOptions(queue_url=url, wait_time_seconds=0, sweep_interval=0), enqueue=files.append, echo=print
    )
    consumer.run(max_messages=messages)
    assert files == []  # a snapshot is not a file of records


def test_a_snapshot_object_is_reconciled_once_and_repairs_only_missing_and_behind(queue, settings):
    s3, _sqs, url = queue
    Order.objects.create(order_number="SO-1", source_version=1, total="11.70", is_deleted=False)
    key = "snapshots/orders/2026-11-28T00-00-00Z.jsonl.gz"
    body = snapshot_body()
    s3.put_object(Bucket=settings.INGEST_BUCKET, Key=key, Body=body)
    consume(url, 2)  # the notification and the s3:TestEvent
    run = ReconciliationRun.objects.get()
    assert (run.status, run.trigger, run.stream, run.source) == (
        "done",
        "notification",
        "orders",
        f"s3://{settings.INGEST_BUCKET}/{key}",
    )
    assert (run.missing, run.differs, run.repaired, run.content_repaired) == (1, 1, 1, 0)
    assert Order.objects.get(order_number="SO-NEW").source_version == 1
    assert str(Order.objects.get(order_number="SO-1").total) == "11.7000"  # content waits for an operator
    assert not ImportFile.objects.exclude(registered_by="reconcile").exists()
    # The same object announced again: nothing new.
    s3.put_object(Bucket=settings.INGEST_BUCKET, Key=key, Body=body)
    consume(url, 1)
    assert ReconciliationRun.objects.count() == 1


def test_auto_repair_off_only_reports(queue, settings):
    s3, _sqs, url = queue
    settings.INGEST_RECONCILE_AUTO_REPAIR = False
    s3.put_object(Bucket=settings.INGEST_BUCKET, Key="snapshots/orders/a.jsonl.gz", Body=snapshot_body())
    consume(url, 2)
    run = ReconciliationRun.objects.get()
    assert (run.status, run.missing, run.repaired) == ("done", 2, 0)
    assert not Order.objects.exists()


def test_a_snapshot_in_another_streams_folder_fails_its_run_and_changes_nothing(queue, settings):
    s3, _sqs, url = queue
    s3.put_object(Bucket=settings.INGEST_BUCKET, Key="snapshots/customers/a.jsonl.gz", Body=snapshot_body())
    consume(url, 2)
    run = ReconciliationRun.objects.get()
    assert run.status == "failed" and "customers" in run.error_message
    assert not Order.objects.exists()


def test_a_run_whose_task_was_lost_is_enqueued_again_by_the_sweep(queue, settings, monkeypatch):
    s3, _sqs, url = queue
    s3.put_object(Bucket=settings.INGEST_BUCKET, Key="snapshots/orders/b.jsonl.gz", Body=snapshot_body())
    settings.CELERY_TASK_ALWAYS_EAGER = False
    enqueued_again: list[int] = []

    def broker_down(run_id: int) -> None:
        raise ConnectionError("broker down")

    from ingest.services.repair.reconcile import registration

    monkeypatch.setattr(registration, "enqueue_reconciliation", broker_down)
    consume(url, 2)
    run = ReconciliationRun.objects.get()
    assert run.status == "pending"
    assert sweep_runs(enqueued_again.append, older_than=0) == [run.pk] == enqueued_again


def test_the_command_reads_an_s3_uri(queue, settings, capsys):
    from django.core.management import CommandError, call_command

    s3, _sqs, _url = queue
    key = "snapshots/orders/by-hand.jsonl.gz"
    s3.put_object(Bucket=settings.INGEST_BUCKET, Key=key, Body=snapshot_body())
    call_command("reconcile", f"s3://{settings.INGEST_BUCKET}/{key}", "--json", "--apply")
    out = json.loads(capsys.readouterr().out)
    assert (out["missing"], out["repaired"]) == (2, 2)
    assert ReconciliationRun.objects.get().trigger == "command"
    with pytest.raises(CommandError, match="cannot read"):
        call_command("reconcile", f"s3://{settings.INGEST_BUCKET}/snapshots/orders/nothing.jsonl.gz")
