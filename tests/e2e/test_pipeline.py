"""End to end: put_object on moto -> S3 notification -> SQS -> consume_events -> Redis -> Celery worker
process -> committed rows on PostgreSQL. Each failure mode of the issue is a test."""

from __future__ import annotations

import json
import signal
import threading
import time

import pytest

from ingest.models import ImportAttempt, ImportFile, UnreadableMessage
from ingest.testing.database import held_by_another_worker, import_transaction_has_written
from ingest.testing.processes import worker_children
from ingest.testing.samples import firehose_body, firehose_key, notification_body, order_events
from ingest.testing.utilities import free_port, wait_until
from website.models import Order

pytestmark = [pytest.mark.postgres, pytest.mark.e2e]


def test_put_object_ends_as_committed_rows(pipeline):
    pipeline.start_worker()
    pipeline.start_consumer()
    key = firehose_key("orders")
    etag = pipeline.put(key, firehose_body(order_events(50, run="A")))

    [f] = pipeline.wait_files(1)
    assert (f.bucket, f.key, f.etag, f.stream) == (pipeline.bucket, key, etag, "orders")
    assert f.registered_by == "notification"
    assert (f.lines_total, f.rows_created, f.errors_count) == (50, 50, 0)
    assert Order.objects.filter(last_import=f).count() == 50
    # The whole timeline is there, in order, and the lag is stored.
    assert f.s3_event_time <= f.received_at <= f.enqueued_at <= f.started_at <= f.finished_at
    assert f.lag_seconds == pytest.approx((f.finished_at - f.s3_event_time).total_seconds(), abs=0.01)
    assert f.lag_seconds < 10
    [attempt] = f.attempts.all()
    assert attempt.trigger == "task" and attempt.task_id and attempt.status == "imported"


def test_a_big_file_is_parsed_in_a_second_process_of_the_worker(pipeline):
    """A Celery worker's pool process forks the parse process (every file counts as big here)."""
    worker = pipeline.start_worker(INGEST_PARSE_PROCESS_MIN_BYTES="0", INGEST_BATCH_SIZE="7")
    pipeline.start_consumer()
    key = firehose_key("orders")
    pipeline.put(key, firehose_body(order_events(60, run="P")))
    [f] = pipeline.wait_files(1)
    assert (f.lines_total, f.rows_created, f.errors_count) == (60, 60, 0)
    assert Order.objects.filter(last_import=f).count() == 60
    assert "parsing in a second process" in worker.log()


def _one_import(pipeline, key: str, lines: int) -> ImportFile:
    """Once the queue and the broker are idle: exactly one file, one attempt, ``lines`` rows."""
    wait_until(lambda: pipeline.queue_depth() == 0 and pipeline.broker_idle(), 60, 0.2, "queue and broker idle")
    [f] = ImportFile.objects.filter(key=key)
    assert f.status == "imported"
    assert list(ImportAttempt.objects.filter(import_file=f).values_list("status", flat=True)) == ["imported"]
    assert f.attempts_count == 1
    assert Order.objects.count() == lines
    assert Order.objects.filter(last_import=f).count() == lines
    return f


def test_same_notification_delivered_twice_imports_once(pipeline):
    key = firehose_key("orders")
    pipeline.put(key, firehose_body(order_events(40, run="B")))
    # Take the real notification moto sent and deliver it a second time, identical.
    messages = wait_until(
        lambda: pipeline.sqs.receive_message(QueueUrl=pipeline.queue_url, MaxNumberOfMessages=10).get("Messages"),
        10,
        what="the notification",
    )
    for message in messages:
        pipeline.sqs.change_message_visibility(
            QueueUrl=pipeline.queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
        )
    [body] = [m["Body"] for m in messages if "Records" in m["Body"]]
    pipeline.sqs.send_message(QueueUrl=pipeline.queue_url, MessageBody=body)
    consumer = pipeline.start_consumer()
    pipeline.start_worker()
    pipeline.wait_files(1)
    wait_until(lambda: consumer.log().count(key) >= 2, 30, 0.1, "both deliveries handled")
    _one_import(pipeline, key, 40)


def test_a_file_another_worker_holds_is_looked_at_again_and_imported_once(pipeline):
    """A worker that finds the file locked sends its task again (the busy policy) until it is free."""
    key = firehose_key("orders")
    pipeline.put(key, firehose_body(order_events(12, run="L")))
    pipeline.start_consumer()
    f = wait_until(lambda: ImportFile.objects.filter(key=key, enqueued_at__isnull=False).first(), 30, 0.1, "enqueued")
    with held_by_another_worker(f.pk, key_share=True, hold_at_most=60):
        worker = pipeline.start_worker(INGEST_BUSY_RETRY_SECONDS="0.3")
        wait_until(lambda: worker.log().count("Retry in") >= 3, 30, 0.1, "three looks at the busy file")
    pipeline.wait_files(1)
    _one_import(pipeline, key, 12)


def test_two_notifications_for_one_object_import_once(pipeline):
    key = firehose_key("orders")
    body = firehose_body(order_events(30, run="C"))
    etag = pipeline.put(key, body)
    pipeline.put(key, body)  # the same content written twice: two real notifications, one ETag
    # ... and a third one as another producer would word it (another time, a sequencer).
    pipeline.sqs.send_message(
        QueueUrl=pipeline.queue_url,
        MessageBody=notification_body(pipeline.bucket, key, etag, len(body), sequencer="0055AED6DCD90281E5"),
    )
    pipeline.start_worker()
    consumer = pipeline.start_consumer()
    pipeline.wait_files(1)
    wait_until(lambda: consumer.log().count(key) >= 3, 30, 0.1, "three notifications handled")
    _one_import(pipeline, key, 30)


def test_worker_killed_mid_import_imports_exactly_once(pipeline):
    lines = 100_000
    worker = pipeline.start_worker()
    pipeline.start_consumer()
    key = firehose_key("orders")
    pipeline.put(key, firehose_body(order_events(lines, run="D")))

    wait_until(lambda: ImportFile.objects.filter(key=key, status="running").exists(), 30, 0.02, "import running")
    wait_until(import_transaction_has_written, 30, 0.02, "the import's transaction to write")
    time.sleep(0.5)  # well inside the import's transaction (it takes several seconds)
    assert ImportFile.objects.get(key=key).status == "running"
    [child] = worker_children(worker)
    import os

    import psutil

    # A file of 3 MB: the pool child parses it in a process of its own, which must end with it.
    [parser] = wait_until(lambda: psutil.Process(child).children(), 10, 0.02, "the parse process")
    os.kill(child, signal.SIGKILL)
    wait_until(lambda: child not in worker_children(worker) and worker_children(worker), 30, 0.1, "a new pool child")
    wait_until(lambda: not parser.is_running() or parser.status() == psutil.STATUS_ZOMBIE, 30, 0.1, "the parser gone")

    f = pipeline.wait_files(1, timeout=180)[0]
    wait_until(pipeline.broker_idle, 60, 0.2, "broker idle")
    f.refresh_from_db()
    assert f.redeliveries >= 1  # the message came back because its worker was lost
    assert list(f.attempts.values_list("status", flat=True)) == ["imported"]  # the killed run left nothing
    assert (f.lines_total, f.rows_created) == (lines, lines)
    assert Order.objects.count() == lines
    assert Order.objects.filter(last_import=f).count() == lines
    assert "WorkerLostError" in worker.log() or "SIGKILL" in worker.log()


def test_redis_restart_while_files_flow_loses_no_file(pipeline):
    port = free_port()
    pipeline.broker_url = f"redis://127.0.0.1:{port}/0"
    redis = pipeline.start_redis(port)
    pipeline.start_worker()
    pipeline.start_consumer()
    total = 30
    restarted = threading.Event()

    def put_files():
        for n in range(total):
            pipeline.put(firehose_key("orders"), firehose_body(order_events(20, start=n * 20, run="E")))
            if n == 10:
                pipeline.processes.remove(redis_box[0])
                redis_box[0].stop()  # no persistence: every queued task is gone
                time.sleep(1.5)
                redis_box[0] = pipeline.start_redis(port)
                restarted.set()
            time.sleep(0.1)

    redis_box = [redis]
    putter = threading.Thread(target=put_files)
    putter.start()
    putter.join(120)
    assert restarted.is_set()
    files = pipeline.wait_files(total, timeout=120)
    assert len(files) == total
    assert Order.objects.count() == total * 20
    wait_until(pipeline.broker_idle, 60, 0.2, "broker idle")
    assert ImportAttempt.objects.filter(status="imported").count() == total


def test_poison_message_is_recorded_and_files_behind_it_import(pipeline):
    garbage = ["this is not json {", json.dumps({"hello": "world"}), json.dumps({"Records": [{"eventVersion": "3.0"}]})]
    for body in garbage:
        pipeline.sqs.send_message(QueueUrl=pipeline.queue_url, MessageBody=body)
    keys = [firehose_key("orders") for _ in range(3)]
    for n, key in enumerate(keys):
        pipeline.put(key, firehose_body(order_events(10, start=n * 10, run="F")))
    pipeline.start_worker()
    pipeline.start_consumer()

    files = pipeline.wait_files(3)
    assert sorted(f.key for f in files) == sorted(keys)
    wait_until(lambda: UnreadableMessage.objects.count() == 3 and pipeline.queue_depth() == 0, 30, 0.1, "rejections")
    assert sorted(UnreadableMessage.objects.values_list("body", flat=True)) == sorted(garbage)
    assert all(r.error and r.queue_url == pipeline.queue_url for r in UnreadableMessage.objects.all())


def test_reimport_missing_imports_objects_never_announced(pipeline):
    import subprocess
    import sys

    pipeline.disable_notifications()
    keys = [firehose_key(stream) for stream in ("orders", "orders", "orders")]
    for n, key in enumerate(keys):
        pipeline.put(key, firehose_body(order_events(10, start=n * 10, run="G")))
    pipeline.put("elsewhere/not-a-stream-object", b"ignored: not under a stream prefix")
    pipeline.start_worker()

    def reimport(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", "reimport", *args],
            env=pipeline.env(),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    out = reimport("--missing", "--dry-run")
    assert out.count("would import") == 3 and ImportFile.objects.count() == 0
    out = reimport("--missing")
    assert "3 registered" in out and "3 enqueued" in out
    files = pipeline.wait_files(3)
    assert sorted(f.key for f in files) == sorted(keys)
    assert {f.registered_by for f in files} == {"sweep"}
    assert Order.objects.count() == 30
    assert "0 selected" in reimport("--missing")


def test_transient_failures_retry_in_the_worker_then_fail_and_reimport_recovers(pipeline):
    import subprocess
    import sys

    # This worker cannot reach S3: every attempt is a transient failure, retried with backoff.
    worker = pipeline.start_worker(
        AWS_ENDPOINT_URL=f"http://127.0.0.1:{free_port()}",
        AWS_MAX_ATTEMPTS="2",  # all attempts: one retry of botocore's own
        AWS_CONNECT_TIMEOUT="1",
        INGEST_TASK_MAX_RETRIES="2",
        INGEST_RETRY_BACKOFF_SECONDS="0.2",
    )
    pipeline.start_consumer()
    key = firehose_key("orders")
    pipeline.put(key, firehose_body(order_events(15, run="H")))
    [f] = pipeline.wait_files(1, timeout=60, statuses=("failed",))
    assert f.error_message.startswith("gave up after 3 attempts")
    assert worker.log().count("Retry in") >= 2 or worker.log().count("transient failure, retry") >= 2
    assert Order.objects.count() == 0

    worker.stop()
    pipeline.processes.remove(worker)
    pipeline.start_worker()
    done = subprocess.run(
        [sys.executable, "manage.py", "reimport", "--status", "failed"],
        env=pipeline.env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "1 selected, 1 enqueued" in done.stdout
    [f] = pipeline.wait_files(1)
    assert list(f.attempts.values_list("status", "trigger")) == [("failed", "retry"), ("imported", "reimport")]
    assert Order.objects.count() == 15
