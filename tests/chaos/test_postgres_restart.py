"""PostgreSQL crashes and comes back while a worker is half-way through a file: the import's
transaction is gone, the file is imported again, once, and the consumer and the worker reconnect
by themselves (the next file needs nobody's help). The private cluster, never the shared one."""

from __future__ import annotations

import time

import pytest
from django.db import OperationalError, close_old_connections, connection

from ingest.models import ImportFile
from ingest.testing.database import import_transaction_has_written
from ingest.testing.samples import firehose_body, firehose_key, order_events
from ingest.testing.utilities import wait_until
from website.models import Order

pytestmark = [pytest.mark.postgres, pytest.mark.chaos]

LINES = 60_000


def _retrying(query):
    """The test's own queries outlive the restart: a dropped connection is opened again."""

    def run():
        try:
            return query()
        except OperationalError:
            close_old_connections()
            connection.close()
            return None

    return run


def test_postgres_restart_during_an_import(chaos_pipeline, capsys):
    p = chaos_pipeline
    worker = p.start_worker()
    consumer = p.start_consumer()
    big = firehose_key("orders")
    p.put(big, firehose_body(order_events(LINES, run="P")))
    wait_until(lambda: ImportFile.objects.filter(key=big, status="running").exists(), 30, 0.02, "import running")
    wait_until(import_transaction_has_written, 30, 0.02, "the import's transaction to write")
    time.sleep(0.3)
    assert ImportFile.objects.get(key=big).status == "running"

    crashed = time.time()
    outage = p.postgres.restart(down_seconds=2.0)
    connection.close()

    f = wait_until(
        _retrying(lambda: ImportFile.objects.filter(key=big, status="imported").first()), 120, 0.1, "re-import"
    )
    assert list(f.attempts.values_list("status", flat=True)) == ["imported"]  # the cut run left nothing
    assert (f.lines_total, f.rows_created) == (LINES, LINES)
    assert Order.objects.count() == LINES

    # Nobody restarted the consumer or the worker: the next file goes through them.
    after = firehose_key("orders")
    p.put(after, firehose_body(order_events(5, start=LINES, run="P")))
    g = wait_until(lambda: ImportFile.objects.filter(key=after, status="imported").first(), 60, 0.05, "next file")
    assert worker.proc.poll() is None and consumer.proc.poll() is None
    assert Order.objects.count() == LINES + 5
    with capsys.disabled():
        print(
            f"\nPostgreSQL crashed mid-import (down {outage:.1f} s): file imported again "
            f"{f.finished_at.timestamp() - crashed:.1f} s after the crash (redeliveries {f.redeliveries}); "
            f"next file imported {g.finished_at.timestamp() - g.created_at.timestamp():.2f} s after it was registered"
        )
