"""End to end, dependencies unavailable for a while (30 s by default, E2E_OUTAGE_SECONDS): SQS or
Redis stops answering while files keep arriving. The consumer and the worker stay up, the
consumer logs one line when the outage starts and one when it ends, and every file is imported
once after it."""

from __future__ import annotations

import os
import time
from urllib.parse import urlsplit

import pytest

from ingest.models import ImportAttempt
from ingest.testing.samples import firehose_body, firehose_key, order_events
from ingest.testing.utilities import free_port, wait_until
from tests.e2e.tcp_proxy import TcpProxy
from website.models import Order

pytestmark = [pytest.mark.postgres, pytest.mark.e2e]

OUTAGE_SECONDS = float(os.environ.get("E2E_OUTAGE_SECONDS", "30"))


def _put_files(pipeline, count: int, *, run: str, lines: int = 10) -> list[str]:
    keys = []
    for n in range(count):
        key = firehose_key("orders")
        pipeline.put(key, firehose_body(order_events(lines, start=n * lines, run=run)))
        keys.append(key)
    return keys


def _all_imported_once(pipeline, keys: list[str], lines: int) -> None:
    files = pipeline.wait_files(len(keys), timeout=120)
    assert sorted(f.key for f in files) == sorted(keys)
    wait_until(lambda: pipeline.queue_depth() == 0 and pipeline.broker_idle(), 60, 0.2, "queue and broker idle")
    assert ImportAttempt.objects.filter(status="imported").count() == len(keys)
    assert ImportAttempt.objects.exclude(status="imported").count() == 0
    assert Order.objects.count() == len(keys) * lines


def _last_finish(back: float) -> float:
    """Seconds from ``back`` (monotonic) to the last file's commit."""
    from django.db.models import Max
    from django.utils import timezone

    from ingest.models import ImportFile

    last = ImportFile.objects.aggregate(last=Max("finished_at"))["last"]
    return (last - timezone.now()).total_seconds() + (time.monotonic() - back)


def test_sqs_unreachable_consumer_stays_up_logs_once_and_resumes(pipeline):
    moto = urlsplit(pipeline.endpoint)
    proxy = TcpProxy(moto.hostname, moto.port)
    proxy.start()
    try:
        pipeline.start_worker()  # S3 directly: only the consumer's SQS goes through the proxy
        consumer = pipeline.start_consumer(AWS_ENDPOINT_URL=proxy.url)
        before = _put_files(pipeline, 1, run="S")
        pipeline.wait_files(1)

        proxy.stop()
        # A receive already in SQS's hands when the connection is cut still takes the messages that
        # arrive during its long poll, and hides them for the queue's visibility timeout: announce
        # the files once that poll is over, to time the consumer's own resumption.
        time.sleep(3)
        during = _put_files(pipeline, 3, run="S2")  # their notifications wait in the queue
        time.sleep(max(0.0, OUTAGE_SECONDS - 3))
        assert consumer.proc.poll() is None
        proxy.start()
        back = time.monotonic()

        _all_imported_once(pipeline, before + during, 10)
        print(
            f"\nSQS unreachable for {OUTAGE_SECONDS:.0f} s: files imported {_last_finish(back):.2f} s after it answered"
        )
        log = consumer.log()
        assert consumer.proc.poll() is None
        assert log.count("SQS unavailable") == 1, log[-3000:]
        assert log.count("SQS is back") == 1, log[-3000:]
    finally:
        proxy.stop()


def test_redis_down_then_back_on_the_same_port_loses_no_file(pipeline):
    port = free_port()
    pipeline.broker_url = f"redis://127.0.0.1:{port}/0"
    redis = pipeline.start_redis(port)
    worker = pipeline.start_worker()
    consumer = pipeline.start_consumer()
    before = _put_files(pipeline, 1, run="R")
    pipeline.wait_files(1)

    pipeline.processes.remove(redis)
    redis.stop()  # no persistence: whatever was queued is gone with it
    during = _put_files(pipeline, 3, run="R2")  # registered, their enqueue fails: pending in the database
    wait_until(lambda: consumer.log().count("registered file") >= 4, 30, 0.1, "the files registered")
    time.sleep(OUTAGE_SECONDS)
    assert worker.proc.poll() is None and consumer.proc.poll() is None
    pipeline.start_redis(port)
    back = time.monotonic()

    _all_imported_once(pipeline, before + during, 10)
    print(f"\nRedis down for {OUTAGE_SECONDS:.0f} s: files imported {_last_finish(back):.2f} s after it answered")
    log = consumer.log()
    assert worker.proc.poll() is None and consumer.proc.poll() is None
    assert log.count("the broker unavailable") == 1, log[-3000:]
    assert log.count("the broker is back") == 1, log[-3000:]
