"""End to end, Redis SIGKILLed and restarted empty (no persistence) on the same port while files
wait behind a busy worker: the consumer never saw a publish fail, yet the tasks are gone. It sees
the broker's run_id change at its next look (INGEST_ORPHAN_CHECK_SECONDS) and rings the pending
files again: imported within seconds, with the sweep's default INGEST_REQUEUE_AFTER_SECONDS (600 s)."""

from __future__ import annotations

import signal
import time

import pytest
from django.utils import timezone

from ingest.models import ImportAttempt, ImportFile
from ingest.testing.database import import_transaction_has_written
from ingest.testing.samples import firehose_body, firehose_key, order_events
from ingest.testing.utilities import free_port, wait_until
from website.models import Order

pytestmark = [pytest.mark.postgres, pytest.mark.e2e]

# Well under the 600 s that the sweep alone would take; a recovery is a few seconds.
RECOVERY_BOUND_SECONDS = 60.0


def test_redis_killed_and_restarted_empty_queued_files_are_imported_once_within_seconds(pipeline):
    port = free_port()
    pipeline.broker_url = f"redis://127.0.0.1:{port}/0"
    redis = pipeline.start_redis(port)
    worker = pipeline.start_worker()
    # The defaults of production, stated: only the broker watch can find these files in time.
    consumer = pipeline.start_consumer("--sweep-interval", "30", "--requeue-after", "600")

    busy_lines, queued_lines, queued = 80_000, 10, 4
    busy = firehose_key("orders")
    pipeline.put(busy, firehose_body(order_events(busy_lines, run="B")))
    wait_until(lambda: import_transaction_has_written(busy), 60, 0.02, "the busy import's transaction to write")
    keys = []
    for n in range(queued):
        key = firehose_key("orders")
        pipeline.put(key, firehose_body(order_events(queued_lines, start=n * queued_lines, run="Q")))
        keys.append(key)
    wait_until(
        lambda: ImportFile.objects.filter(key__in=keys, status="pending", enqueued_at__isnull=False).count() == queued,
        30,
        0.05,
        "the queued files enqueued",
    )
    assert not pipeline.broker_idle()  # their tasks are in Redis, behind the busy import
    assert ImportFile.objects.get(key=busy).status == "running"

    pipeline.processes.remove(redis)
    redis.signal(signal.SIGKILL)
    redis.proc.wait(10)
    pipeline.start_redis(port)  # empty: the queued tasks are gone
    restarted, restarted_at = time.monotonic(), timezone.now()
    assert ImportFile.objects.filter(key__in=keys, status="pending").count() == queued

    def rung_again() -> bool:
        return ImportFile.objects.filter(key__in=keys, enqueued_at__gt=restarted_at).count() == queued

    wait_until(rung_again, RECOVERY_BOUND_SECONDS, 0.05, "the queued files enqueued again")
    enqueued_again = time.monotonic() - restarted

    def queued_imported() -> bool:
        return ImportFile.objects.filter(key__in=keys, status="imported").count() == queued

    wait_until(queued_imported, RECOVERY_BOUND_SECONDS, 0.1, "the queued files imported")
    recovery = time.monotonic() - restarted
    files = pipeline.wait_files(queued + 1, timeout=180)
    done = time.monotonic() - restarted
    print(
        f"\nRedis SIGKILLed and restarted empty, {queued} files queued behind a busy import: "
        f"enqueued again {enqueued_again:.2f} s after the restart, imported after {recovery:.2f} s "
        f"(behind the busy import; all {queued + 1} files {done:.2f} s)"
    )
    wait_until(pipeline.broker_idle, 60, 0.2, "broker idle")

    assert sorted(f.key for f in files) == sorted([busy, *keys])
    for f in files:  # exactly once: one attempt, a successful one
        assert list(ImportAttempt.objects.filter(import_file=f).values_list("status", flat=True)) == ["imported"]
    assert Order.objects.count() == busy_lines + queued * queued_lines
    # A second task is a fresh task, not a lost delivery.
    assert sum(ImportFile.objects.values_list("redeliveries", flat=True)) == 0
    log = consumer.log()
    assert log.count("the broker restarted") == 1, log[-3000:]
    assert "the broker unavailable" not in log  # the consumer saw no outage: the run_id told it
    assert worker.proc.poll() is None and consumer.proc.poll() is None
