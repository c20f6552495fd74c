"""SQS unavailable for 30 s (every call answered 503) while files keep landing: the consumer stays
up, says so in its log, and once SQS answers again registers and imports every file, once."""

from __future__ import annotations

import os
import time

import pytest

from ingest.models import ImportAttempt, ImportFile
from ingest.testing.samples import firehose_body, firehose_key, order_events
from ingest.testing.utilities import wait_until
from website.models import Order

pytestmark = [pytest.mark.postgres, pytest.mark.chaos]

OUTAGE_SECONDS = float(os.environ.get("CHAOS_SQS_OUTAGE_SECONDS", "30"))


def test_consumer_survives_a_sqs_outage_and_loses_nothing(chaos_pipeline, capsys):
    p = chaos_pipeline
    p.start_worker()
    consumer = p.start_consumer()
    p.put(firehose_key("orders"), firehose_body(order_events(10, run="Q0")))
    p.wait_files(1)

    p.sqs_proxy.set_mode("error", status=503)
    down = time.monotonic()
    outage_started = time.time()
    # A long poll that started before the switch may still bring a message: land files only once
    # the consumer's calls have begun to fail.
    wait_until(lambda: p.sqs_proxy.faults["error"] > 0, 30, 0.05, "the consumer's first failed call")
    keys: list[str] = []
    while time.monotonic() - down < OUTAGE_SECONDS:
        n = len(keys) + 1
        key = firehose_key("orders")
        p.put(key, firehose_body(order_events(10, start=n * 10, run="Q")))  # S3 is fine: notifications queue up
        keys.append(key)
        time.sleep(min(5.0, max(0.0, OUTAGE_SECONDS - (time.monotonic() - down))))
        assert consumer.proc.poll() is None, f"the consumer exited during the outage:\n{consumer.log()[-3000:]}"
    assert ImportFile.objects.count() == 1  # nothing could be received meanwhile
    healed = time.time()
    p.sqs_proxy.passthrough()
    faults = p.sqs_proxy.faults["error"]

    files = p.wait_files(1 + len(keys), timeout=120)
    assert consumer.proc.poll() is None
    assert {f.key for f in files} >= set(keys)
    first_registered = min(f.created_at.timestamp() for f in files if f.key in keys)
    last_imported = max(f.finished_at.timestamp() for f in files if f.key in keys)
    wait_until(lambda: p.queue_depth() == 0, 30, 0.2, "the queue to empty")
    assert ImportFile.objects.count() == 1 + len(keys)
    assert ImportAttempt.objects.filter(status="imported").count() == 1 + len(keys)
    assert Order.objects.count() == 10 * (1 + len(keys))
    log = consumer.log()
    # The outage is in the log, plainly: one line when it starts, one when it ends.
    assert log.count("SQS unavailable") == 1 and log.count("SQS is back after") == 1, log[-3000:]
    with capsys.disabled():
        print(
            f"\nSQS outage of {healed - outage_started:.1f} s: {faults} calls answered 503, consumer up throughout; "
            f"{len(keys)} file(s) landed meanwhile; first registered {first_registered - healed:.1f} s and all "
            f"imported {last_imported - healed:.1f} s after SQS answered again"
        )
