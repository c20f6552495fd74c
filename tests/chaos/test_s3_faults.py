"""S3 unwell while a worker imports: 500s, 503s, reset connections, downloads cut half-way and
answers slower than the read timeout. The worker retries with backoff; nothing is marked imported
while the faults last; once S3 is well the file is imported once, its rows equal to its lines."""

from __future__ import annotations

import time
from functools import partial
from typing import Any

import pytest

from ingest.models import ImportFile
from ingest.testing.samples import firehose_body, firehose_key, order_events
from ingest.testing.utilities import wait_until
from website.models import Order

pytestmark = [pytest.mark.postgres, pytest.mark.chaos]

# (mode, options, faults to see before S3 gets well again)
FAULTS: list[tuple[str, dict[str, Any], int]] = [
    ("error", {"status": 503}, 4),
    ("error", {"status": 500}, 4),
    ("reset", {}, 4),
    ("truncate", {}, 3),
    ("delay", {"delay": 2.5}, 2),  # the worker's read timeout is 1 s
]
LINES = 300


def imported_file(key: str) -> ImportFile | None:
    return ImportFile.objects.filter(key=key, status="imported").first()


def test_s3_faults_are_retried_with_backoff_and_nothing_is_imported_until_they_stop(chaos_pipeline, capsys):
    p = chaos_pipeline
    worker = p.start_worker(
        AWS_MAX_ATTEMPTS="2",  # two attempts (botocore retries once), so that the task's retries show
        AWS_READ_TIMEOUT="1",
        INGEST_RETRY_BACKOFF_SECONDS="0.3",
        INGEST_RETRY_BACKOFF_MAX_SECONDS="2",
        INGEST_TASK_MAX_RETRIES="30",
    )
    p.start_consumer()
    figures = []
    for n, (mode, options, faults_wanted) in enumerate(FAULTS):
        label = f"{mode} {options}" if options else mode
        p.s3_proxy.set_mode(mode, only=("GET",), **options)
        before = p.s3_proxy.faults[mode]
        retries_before = worker.log().count("transient failure, retry")
        key = firehose_key("orders")
        events = order_events(LINES, start=n * LINES, run=f"S3{n}")
        p.put(key, firehose_body(events))

        def enough(mode=mode, before=before, wanted=faults_wanted) -> bool:
            return p.s3_proxy.faults[mode] - before >= wanted

        wait_until(enough, 60, 0.05, f"{faults_wanted} {label}")
        # S3 has failed every read so far: no row may exist and the file may not say imported.
        f = ImportFile.objects.get(key=key)
        assert f.status in {"pending", "running"}, (label, f.status, f.error_message)
        assert not Order.objects.filter(order_number__in=[e["key"]["orderNumber"] for e in events]).exists(), label
        assert not f.attempts.exists(), label  # a transient failure leaves no attempt behind
        assert "will retry" in f.error_message or f.status == "running", (label, f.error_message)

        healed = time.time()
        p.s3_proxy.passthrough()
        f = wait_until(partial(imported_file, key), 60, 0.05, f"{label}: import")
        retries = worker.log().count("transient failure, retry") - retries_before
        assert retries >= 1, f"{label}: no retry logged\n{worker.log()[-3000:]}"
        assert f.finished_at.timestamp() >= healed  # imported only after the faults stopped
        assert list(f.attempts.values_list("status", flat=True)) == ["imported"], label
        assert (f.lines_total, f.rows_created, f.errors_count) == (LINES, LINES, 0), label
        numbers = {e["key"]["orderNumber"] for e in events}
        assert set(Order.objects.filter(last_import=f).values_list("order_number", flat=True)) == numbers, label
        figures.append((label, p.s3_proxy.faults[mode] - before, retries, f.finished_at.timestamp() - healed))

    assert Order.objects.count() == LINES * len(FAULTS)
    with capsys.disabled():
        print("\nS3 faults (worker: AWS_MAX_ATTEMPTS=2, read timeout 1 s, task backoff 0.3-2 s):")
        for label, faults, retries, recovery in figures:
            print(f"  {label:<22} faults {faults:>3}  task retries {retries:>3}  imported after {recovery:.2f} s")
