"""The soak: System Two events through the local import API for a couple of minutes while a
fault schedule SIGKILLs and restarts workers, the consumer, Redis and PostgreSQL, and makes S3 and
SQS fail through the proxies. At the end the database is the fold of the events accepted, every
object Firehose wrote is one ImportFile with exactly one successful attempt, and the figures are
printed: faults by kind, files, recovery p50/max per kind (``soak.py`` says how it is measured).

Sizes and the sweep's settings come from the environment (defaults in brackets):
``CHAOS_SOAK_EVENTS`` [2400], ``CHAOS_SOAK_SECONDS`` (of traffic) [80], ``CHAOS_FAULT_GAP`` [3],
``CHAOS_SWEEP_INTERVAL`` [1], ``CHAOS_ABANDONED_AFTER`` [the settings']. ``--requeue-after`` keeps
its default (600 s): what Redis lost when it restarted empty is enqueued_again by the broker watch.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter

import pytest
from django.db.models import Count, Q

from ingest.demo.sending import ApiClient
from ingest.demo.services import api_server
from ingest.models import DONE_STATUSES, ImportFile
from ingest.testing.comparator import differences
from ingest.testing.event_generator import generate_events
from ingest.testing.oracle import expected_state
from tests.chaos.soak import Injector, Sender, measure_recoveries, report, retrying

pytestmark = [pytest.mark.postgres, pytest.mark.chaos]

SCHEDULE = [
    "worker", "s3-error", "consumer", "redis", "postgres", "worker", "s3-reset", "sqs",
    "worker", "s3-truncate", "redis", "postgres", "consumer", "worker", "s3-delay",
]  # fmt: skip


def _setting(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


def test_soak_under_faults_ends_equal_to_the_fold(chaos_pipeline, settings, capsys):
    from ingest.local.firehose import get_firehose, reset_firehose

    p = chaos_pipeline
    events_n = int(_setting("CHAOS_SOAK_EVENTS", 2400))
    seconds = _setting("CHAOS_SOAK_SECONDS", 80)
    # A dead worker's file is found by the consumer's orphan check (INGEST_ORPHAN_CHECK_SECONDS, its
    # default), the tasks lost with Redis by the broker watch at the same looks.
    sweep = {"--sweep-interval": _setting("CHAOS_SWEEP_INTERVAL", 1)}
    if os.environ.get("CHAOS_ABANDONED_AFTER"):
        sweep["--abandoned-after"] = _setting("CHAOS_ABANDONED_AFTER", 0)
    p.consumer_args = tuple(str(x) for pair in sweep.items() for x in pair)
    p.worker_env = {
        # Short retries so that a fault costs seconds; the sizes of production are in settings.
        "AWS_MAX_ATTEMPTS": "3",  # all attempts: botocore retries twice, as before
        "AWS_READ_TIMEOUT": "2",
        "INGEST_RETRY_BACKOFF_SECONDS": "0.5",
        "INGEST_RETRY_BACKOFF_MAX_SECONDS": "4",
        "INGEST_TASK_MAX_RETRIES": "40",
        "DATABASE_CONNECT_TIMEOUT": "3",
    }
    settings.INGEST_LOCAL_API_ENABLED = True
    settings.INGEST_LOCAL_API_VALIDATE = True
    settings.INGEST_LOCAL_BUFFER_SECONDS = 1.0
    reset_firehose()

    started_workers = [threading.Thread(target=p.start_worker) for _ in range(2)]
    for t in started_workers:
        t.start()
    for t in started_workers:
        t.join()
    p.start_consumer()

    events = generate_events(events_n, seed=9, invalid_fraction=0.0)
    try:
        with api_server() as (host, port):
            firehose = get_firehose()
            gap = _setting("CHAOS_FAULT_GAP", 3)
            injector = Injector(p, schedule=SCHEDULE, gap=gap, s3_window=4, sqs_window=6, seed=9)
            client = ApiClient(host, port, settings.INGEST_API_SECRET)
            sender = Sender(client, events, seconds, until=injector.done)
            faults_thread = threading.Thread(target=injector.run, name="soak-faults")
            clock, origin = time.monotonic(), time.time()
            faults_thread.start()
            try:
                sender.run()
            except BaseException:
                injector.stop.set()
                raise
            finally:
                faults_thread.join(120)
            assert not faults_thread.is_alive()
            firehose.flush()
            traffic = time.monotonic() - clock
            delivered = {d.key: d.delivered_at for d in firehose.deliveries if d.key}
            failed_records = firehose.totals().records_failed
    finally:
        reset_firehose()

    # Quiet now: every object Firehose wrote must end imported.
    def settled() -> bool:
        files = ImportFile.objects.filter(key__in=list(delivered))
        return files.count() == len(delivered) and not files.exclude(status__in=DONE_STATUSES).exists()

    deadline = time.monotonic() + 180
    while not retrying(settled):
        if time.monotonic() > deadline:
            stuck = list(
                ImportFile.objects.exclude(status__in=DONE_STATUSES).values_list("pk", "status", "error_message")
            )
            unregistered = set(delivered) - set(ImportFile.objects.values_list("key", flat=True))
            missing = sorted((delivered[k] - origin, k) for k in unregistered)
            measure_recoveries(injector.faults)
            pytest.fail(
                f"not settled after 180 s: {len(stuck)} file(s) not done: {stuck[:10]}; "
                f"{len(missing)} object(s) never registered (delivered at s, key): {missing[:10]}; "
                f"messages in the queue: {p.queue_depth()}\n{report(injector.faults, origin)}\n{p.logs()}"
            )
        time.sleep(0.5)
    settle = time.monotonic() - clock - traffic

    files = ImportFile.objects.all()
    measure_recoveries(injector.faults)
    kinds = Counter(f.kind for f in injector.faults)
    proxied = {"s3": dict(p.s3_proxy.faults), "sqs": dict(p.sqs_proxy.faults)}
    redeliveries = sum(files.values_list("redeliveries", flat=True))
    with capsys.disabled():
        print(
            f"\nsoak: {len(sender.accepted)} events accepted in {traffic:.0f} s, {len(delivered)} files; "
            f"settled {settle:.1f} s after the traffic\n"
            f"faults injected by kind: {dict(kinds)}; requests failed by the proxies: {proxied}; "
            f"lost deliveries counted: {redeliveries}\n"
            f"sweep: {' '.join(p.consumer_args)}\n" + report(injector.faults, origin)
        )

    assert injector.errors == [], injector.errors
    assert sender.refused == Counter(), sender.refused
    assert failed_records == 0
    assert [f.kind for f in injector.faults] == SCHEDULE
    assert set(files.values_list("key", flat=True)) == set(delivered)  # nothing lost, nothing extra
    assert list(files.exclude(status="imported").values_list("pk", "status", "error_message")) == []
    successes = files.annotate(ok=Count("attempts", filter=Q(attempts__status__in=DONE_STATUSES)))
    assert sorted(Counter(successes.values_list("ok", flat=True)).items()) == [(1, len(delivered))]
    problems = differences(expected_state(sender.accepted))
    assert problems == [], problems[:20]
    assert all(f.recovery is not None for f in injector.faults), [(f.kind, f.detail) for f in injector.faults]
