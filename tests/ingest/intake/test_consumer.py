"""The event consumer against moto's SQS and S3 (real bucket notifications) and the real database.

The task (enqueueing the Celery task) is a callable the tests hand in, so that they can see
what was enqueued and make it fail like a broker that is down; the end-to-end tests in tests/e2e
run the real broker and worker."""

from __future__ import annotations

import json
import threading
import uuid
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from ingest.models import ImportFile, ImportStatus, UnreadableMessage
from ingest.services.intake.consumer import ConsumerOptions, EventConsumer
from ingest.services.observing.percentiles import lag_percentiles, percentile, summarize
from ingest.testing.aws import aws_clients, create_bucket_and_queue
from ingest.testing.database import held_by_another_worker
from ingest.testing.samples import firehose_body, firehose_key, notification_body, order_events

pytestmark = pytest.mark.django_db(transaction=True)


class Doorbell:
    """Records what the consumer enqueues; ``down=True`` fails like a broker that is unreachable."""

    def __init__(self) -> None:
        self.enqueued_again: list[int] = []
        self.down = False

    def __call__(self, import_file_id: int) -> None:
        if self.down:
            raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
        self.enqueued_again.append(import_file_id)


@pytest.fixture
def queue(aws, settings):
    s3, sqs = aws_clients(aws)
    url = create_bucket_and_queue(s3, sqs, settings.INGEST_BUCKET, f"consumer-{uuid.uuid4().hex[:8]}")
    return s3, sqs, url


@pytest.fixture
def task() -> Doorbell:
    return Doorbell()


def consumer_for(url: str, task: Doorbell, **options) -> EventConsumer:
    options.setdefault("wait_time_seconds", 0)
    options.setdefault("sweep_interval", 0)
    return EventConsumer(ConsumerOptions(queue_url=url, **options), enqueue=task, echo=lambda _line: None)


def messages_left(sqs, url: str) -> int:
    attrs = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])


def test_real_notifications_register_enqueue_and_delete(queue, task, settings):
    s3, sqs, url = queue
    keys = [firehose_key("orders"), firehose_key("customers"), "orders/2026/11/27/10/with space+plus"]
    etags = [
        s3.put_object(Bucket=settings.INGEST_BUCKET, Key=k, Body=firehose_body(order_events(2)))["ETag"].strip('"')
        for k in keys
    ]
    s3.put_object(Bucket=settings.INGEST_BUCKET, Key="elsewhere/not-notified", Body=b"x")
    consumer = consumer_for(url, task)
    summary = consumer.run(max_messages=4)  # three notifications and the s3:TestEvent

    files = {f.key: f for f in ImportFile.objects.all()}
    assert set(files) == set(keys)
    assert [files[k].etag for k in keys] == etags
    assert files[keys[1]].stream == "customers"
    for f in files.values():
        assert f.status == ImportStatus.PENDING
        assert f.registered_by == "notification"
        assert f.s3_event_time and f.received_at and f.enqueued_at
        assert f.s3_event_time <= f.received_at + timedelta(seconds=1)
        assert f.size and f.size > 0
    assert sorted(task.enqueued_again) == sorted(f.pk for f in files.values())
    assert summary.registered == 3 and summary.enqueued == 3 and summary.rejected == 0
    assert messages_left(sqs, url) == 0


def test_duplicate_notifications_one_file(queue, task, settings):
    s3, sqs, url = queue
    key = firehose_key("orders")
    body = firehose_body(order_events(3))
    etag = s3.put_object(Bucket=settings.INGEST_BUCKET, Key=key, Body=body)["ETag"].strip('"')
    sqs.send_message(QueueUrl=url, MessageBody=notification_body(settings.INGEST_BUCKET, key, etag, len(body)))
    consumer = consumer_for(url, task)
    consumer.run(max_messages=3)
    [f] = ImportFile.objects.all()
    # Still pending: both deliveries rang; the importer's lock and status make it one import.
    assert task.enqueued_again == [f.pk, f.pk]

    # Once imported (or failed), a later notification of the same content changes nothing.
    ImportFile.objects.filter(pk=f.pk).update(status=ImportStatus.IMPORTED)
    sqs.send_message(QueueUrl=url, MessageBody=notification_body(settings.INGEST_BUCKET, key, etag, len(body)))
    result = consumer.handle(consumer.receive()[0])
    assert result.registered == [] and result.enqueued == [] and result.deleted
    assert task.enqueued_again == [f.pk, f.pk]
    assert ImportFile.objects.count() == 1


def test_a_new_etag_under_the_same_key_is_a_new_file(queue, task, settings):
    _s3, sqs, url = queue
    key = firehose_key("orders")
    for etag in ("aaa", "bbb"):
        sqs.send_message(QueueUrl=url, MessageBody=notification_body(settings.INGEST_BUCKET, key, etag, 10))
    consumer_for(url, task).run(max_messages=3)
    assert sorted(ImportFile.objects.filter(key=key).values_list("etag", flat=True)) == ["aaa", "bbb"]


def test_poison_message_is_recorded_deleted_and_does_not_block(queue, task, settings):
    _s3, sqs, url = queue
    bodies = ["not json at all", json.dumps({"Records": [{"eventVersion": "1.0"}]})]
    for b in bodies:
        sqs.send_message(QueueUrl=url, MessageBody=b)
    key = firehose_key("orders")
    sqs.send_message(QueueUrl=url, MessageBody=notification_body(settings.INGEST_BUCKET, key, "e1", 10))
    summary = consumer_for(url, task).run(max_messages=4)

    assert summary.rejected == 2
    rejected = {r.body: r for r in UnreadableMessage.objects.all()}
    assert set(rejected) == set(bodies)
    assert "not JSON" in rejected["not json at all"].error
    assert all(r.queue_url == url and r.message_id and r.receive_count >= 1 for r in rejected.values())
    assert ImportFile.objects.filter(key=key).exists()
    assert messages_left(sqs, url) == 0


def test_removed_and_test_events_are_acknowledged_and_ignored(queue, task, settings):
    _s3, sqs, url = queue
    removed = json.loads(notification_body(settings.INGEST_BUCKET, "orders/x", "e", 1))
    removed["Records"][0]["eventName"] = "ObjectRemoved:Delete"
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps(removed))
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"Event": "s3:TestEvent", "Bucket": "b"}))
    consumer = consumer_for(url, task)
    results = [consumer.handle(m) for m in consumer.receive()]
    assert any(r.ignored_events == 1 for r in results)
    assert all(r.deleted and not r.rejected for r in results)
    assert ImportFile.objects.count() == 0 and task.enqueued_again == []


def test_broker_down_leaves_the_file_pending_and_the_sweep_enqueues_it(queue, task, settings):
    _s3, sqs, url = queue
    key = firehose_key("orders")
    sqs.send_message(QueueUrl=url, MessageBody=notification_body(settings.INGEST_BUCKET, key, "e1", 10))
    task.down = True
    consumer = consumer_for(url, task)
    consumer.run(max_messages=2)
    f = ImportFile.objects.get(key=key)
    assert f.status == ImportStatus.PENDING and f.enqueued_at is None  # the database still knows
    assert consumer.enqueue_failures == 1 and messages_left(sqs, url) == 0  # the message was not kept

    task.down = False
    assert consumer.sweep() == []  # a grace period: the registrar may be about to ring
    ImportFile.objects.filter(pk=f.pk).update(created_at=timezone.now() - timedelta(minutes=1))
    assert consumer.sweep() == [f.pk]
    assert task.enqueued_again == [f.pk]
    f.refresh_from_db()
    assert f.enqueued_at is not None


def test_sweep_requeues_stale_pending_and_abandoned_running_files(queue, task, settings):
    _s3, _sqs, url = queue
    long_ago = timezone.now() - timedelta(hours=2)
    fresh = ImportFile.objects.create(bucket="b", key="orders/fresh", etag="1", enqueued_at=timezone.now())
    stale = ImportFile.objects.create(bucket="b", key="orders/stale", etag="2", enqueued_at=long_ago)
    scheduled = ImportFile.objects.create(
        bucket="b", key="orders/retry-due-later", etag="3", enqueued_at=timezone.now() + timedelta(minutes=5)
    )
    abandoned = ImportFile.objects.create(bucket="b", key="orders/abandoned", etag="4", status="running")
    done = ImportFile.objects.create(bucket="b", key="orders/done", etag="5", status="imported", enqueued_at=long_ago)
    ImportFile.objects.filter(pk=abandoned.pk).update(updated_at=long_ago, enqueued_at=long_ago)
    settings.CELERY_TASK_TIME_LIMIT = 60  # SQLite cannot see row locks: the time limit bounds a live import

    consumer = consumer_for(url, task, requeue_after=600, abandoned_after=120)
    assert sorted(consumer.sweep()) == sorted([stale.pk, abandoned.pk])
    assert sorted(task.enqueued_again) == sorted([stale.pk, abandoned.pk])
    abandoned.refresh_from_db()
    assert abandoned.status == ImportStatus.PENDING and abandoned.redeliveries == 1
    for f in (fresh, scheduled, done):
        assert f.pk not in task.enqueued_again


def test_sweep_gives_up_on_a_file_that_keeps_getting_lost(queue, task, settings):
    _s3, _sqs, url = queue
    f = ImportFile.objects.create(bucket="b", key="orders/killer", etag="1", status="running", redeliveries=5)
    ImportFile.objects.filter(pk=f.pk).update(updated_at=timezone.now() - timedelta(hours=2))
    settings.CELERY_TASK_TIME_LIMIT = 60
    consumer = consumer_for(url, task, abandoned_after=120, max_redeliveries=5)
    assert consumer.sweep() == []
    f.refresh_from_db()
    assert f.status == ImportStatus.FAILED and "lost deliveries" in f.error_message
    assert f.attempts.get().status == ImportStatus.FAILED


@pytest.mark.postgres
def test_sweep_leaves_a_running_file_whose_row_is_locked(queue, task):
    """On PostgreSQL a live import holds its file's row lock: the sweep must not take it for abandoned."""
    _s3, _sqs, url = queue
    f = ImportFile.objects.create(bucket="b", key="orders/busy", etag="1", status="running")
    ImportFile.objects.filter(pk=f.pk).update(updated_at=timezone.now() - timedelta(hours=2))
    with held_by_another_worker(f.pk):
        consumer = consumer_for(url, task, abandoned_after=60)
        assert consumer.sweep() == []
    assert consumer.sweep() == [f.pk]


def test_drain_exits_when_queue_empty_and_imports_finished(queue, task, settings):
    _s3, sqs, url = queue
    key = firehose_key("orders")
    sqs.send_message(QueueUrl=url, MessageBody=notification_body(settings.INGEST_BUCKET, key, "e1", 10))
    consumer = consumer_for(url, task)
    # The "worker": mark each enqueued_again file imported a moment later.
    timer: threading.Timer | None = None

    def ring(pk):
        nonlocal timer
        task.enqueued_again.append(pk)
        timer = threading.Timer(0.5, lambda: ImportFile.objects.filter(pk=pk).update(status="imported"))
        timer.start()

    consumer.enqueue = ring
    summary = consumer.run(drain=True, drain_timeout=20)
    assert timer is not None
    timer.join()
    assert summary.drained and not summary.timed_out
    assert ImportFile.objects.get(key=key).status == "imported"


def test_drain_times_out_when_imports_do_not_finish(queue, task, settings):
    _s3, sqs, url = queue
    sqs.send_message(QueueUrl=url, MessageBody=notification_body(settings.INGEST_BUCKET, "orders/x", "e1", 10))
    summary = consumer_for(url, task).run(drain=True, drain_timeout=1)
    assert summary.timed_out and not summary.drained


def test_request_stop_ends_the_loop_after_the_batch(queue, task, settings):
    _s3, _sqs, url = queue
    consumer = consumer_for(url, task, wait_time_seconds=1)
    threading.Timer(0.5, consumer.request_stop).start()
    summary = consumer.run()
    assert consumer.stopping and summary.errors == 0


def test_command_once(queue, settings, capsys):
    _s3, sqs, url = queue
    key = firehose_key("orders")
    sqs.send_message(QueueUrl=url, MessageBody=notification_body(settings.INGEST_BUCKET, key, "e1", 10))
    settings.CELERY_TASK_ALWAYS_EAGER = False
    from website.celery import app

    # The task of the command is the real Celery task; with no broker reachable the file stays
    # pending for the sweep, which is what this checks along with the command's output.
    old = app.conf.broker_url
    app.close()  # drops a producer pool that points at another broker
    app.conf.broker_url = "redis://127.0.0.1:1/0"
    try:
        call_command(
            "consume_events", "--queue-url", url, "--wait-time", "0", "--max-messages", "2", "--sweep-interval", "0"
        )
    finally:
        app.close()
        app.conf.broker_url = old
    out = capsys.readouterr().out
    assert f"registered file #{ImportFile.objects.get(key=key).pk}" in out
    assert "stopped: 2 message(s), 1 file(s) registered" in out
    assert ImportFile.objects.get(key=key).status == ImportStatus.PENDING


def test_command_needs_a_queue(settings):
    from django.core.management.base import CommandError

    settings.INGEST_QUEUE_URL = ""
    with pytest.raises(CommandError, match="no queue URL"):
        call_command("consume_events", "--once")


# --- lag metrics --------------------------------------------------------------------------
def test_percentile_interpolates():
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == pytest.approx(50.5)
    assert percentile(values, 99) == pytest.approx(99.01)
    assert percentile(values, 0) == 1 and percentile(values, 100) == 100
    assert percentile([], 50) is None
    assert percentile([3.0], 95) == 3.0
    with pytest.raises(ValueError, match="between 0 and 100"):
        percentile(values, 101)


def test_summarize_skips_missing_values():
    s = summarize([None, 2.0, 1.0, None, 3.0])
    assert (s["count"], s["min"], s["max"], s["mean"], s["p50"]) == (3, 1.0, 3.0, 2.0, 2.0)
    assert summarize([])["p99"] is None


def test_lag_percentiles_over_a_queryset():
    for n in range(10):
        ImportFile.objects.create(
            bucket="b", key=f"orders/{n}", etag=str(n), lag_seconds=0.1 * (n + 1), status="imported"
        )
    ImportFile.objects.create(bucket="b", key="orders/pending", etag="p")
    stats = lag_percentiles(ImportFile.objects.filter(status="imported"))
    assert stats["count"] == 10
    assert stats["p50"] == pytest.approx(0.55)
    assert stats["p99"] == pytest.approx(0.991)
    assert lag_percentiles(ImportFile.objects.none())["p50"] is None
