"""End to end: a worker SIGKILLed while a transient failure's retry is pending costs seconds, not
the broker's visibility timeout or the sweep's requeue delay. The retry is recorded in the
database (``retry_due_at``) and the consumer sends it when due; no countdown task waits inside the
worker that died. Before, the retry was an ETA task held unacked by that worker: the file waited
for Redis's visibility timeout (an hour) or the sweep's INGEST_REQUEUE_AFTER_SECONDS (600 s)."""

from __future__ import annotations

import os
import signal
import time

import pytest
from django.utils import timezone

from ingest.models import ImportAttempt, ImportFile
from ingest.testing.samples import firehose_body, firehose_key, order_events
from ingest.testing.utilities import free_port, wait_until
from website.models import Order

pytestmark = [pytest.mark.postgres, pytest.mark.e2e]

# After the retry is due and a live worker is there to take it: the consumer's check (every
# INGEST_ORPHAN_CHECK_SECONDS, 2 s) sends it, the worker imports 20 lines.
SENT_AND_IMPORTED_WITHIN_SECONDS = 8.0


def test_a_worker_killed_while_a_retry_is_pending_costs_seconds(pipeline):
    pipeline.start_consumer()
    # This worker's S3 is unreachable (connection refused): its import fails transiently.
    doomed = pipeline.start_worker(
        AWS_ENDPOINT_URL=f"http://127.0.0.1:{free_port()}", AWS_MAX_ATTEMPTS="1", INGEST_RETRY_BACKOFF_SECONDS="8"
    )
    key = firehose_key("orders")
    pipeline.put(key, firehose_body(order_events(20, run="R")))

    def retry_recorded() -> bool:
        return ImportFile.objects.filter(key=key, status="pending", retry_due_at__isnull=False).exists()

    wait_until(retry_recorded, 60, 0.05, "the transient failure's retry to be recorded")
    f = ImportFile.objects.get(key=key)
    assert f.retries == 1 and f.error_message.startswith("will retry: ")
    due = f.retry_due_at
    killed_at = timezone.now()
    clock = time.monotonic()
    os.killpg(doomed.pid, signal.SIGKILL)
    doomed.proc.wait(30)

    survivor = pipeline.start_worker()
    ready = timezone.now()
    [f] = pipeline.wait_files(1, timeout=120)
    took = time.monotonic() - clock
    # When the retry could first be taken: due, and a worker up.
    assert f.finished_at is not None and due is not None
    after_takeable = (f.finished_at - max(due, ready)).total_seconds()
    print(
        f"\nworker SIGKILLed with a retry pending: file imported {took:.2f} s after the kill"
        f" (the next worker was up after {(ready - killed_at).total_seconds():.2f} s;"
        f" imported {after_takeable:.2f} s after it could be)"
    )
    assert after_takeable < SENT_AND_IMPORTED_WITHIN_SECONDS
    assert took < 60  # not the broker's visibility timeout (3600 s) or the sweep's requeue delay (600 s)
    assert list(ImportAttempt.objects.filter(import_file=f).values_list("status", "trigger")) == [("imported", "retry")]
    assert (f.retries, f.retry_due_at) == (0, None)
    assert Order.objects.filter(last_import=f).count() == 20
    assert "] received" in survivor.log()
