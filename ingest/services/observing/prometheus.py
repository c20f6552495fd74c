"""The ingest's Prometheus metrics, for ``/metrics`` (see docs/operations.md for the list).

Counters and histograms are updated by the process that does the work (the Celery worker after
an import commits, the consumer, the redrive) and, with ``PROMETHEUS_MULTIPROC_DIR`` set (gunicorn
workers, Celery prefork children), written to files there that the endpoint sums up. Gauges that
describe the database (pending files, failed records, freshness) are read from it at scrape
time, by one process, with a few aggregate queries.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from ingest.services.observing.event_clock import LAG_BUCKETS

DURATION_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 1800)

FILES = Counter("ingest_files", "Imports that finished, by stream and final status.", ["stream", "status"])
ROWS = Counter(
    "ingest_rows",
    "Lines imported, by outcome: created, updated, deleted, stale, placeholder, error.",
    ["stream", "outcome"],
)
DURATION = Histogram(
    "ingest_import_duration_seconds", "Time spent importing one file.", ["stream"], buckets=DURATION_BUCKETS
)
LAG = Histogram("ingest_lag_seconds", "Per file: from the S3 event to committed rows.", ["stream"], buckets=LAG_BUCKETS)
EVENT_LAG = Histogram(
    "ingest_event_lag_seconds",
    "Per event: from its occurredAt (the ERP's clock) to committed rows.",
    ["stream"],
    buckets=LAG_BUCKETS,
)
REJECTED = Counter("ingest_rejected_records_registered", "Records read from Firehose's error output.", ["stream"])
REDRIVEN = Counter(
    "ingest_redriven_records", "Failed records redriven, by outcome: passed, failed.", ["stream", "outcome"]
)
CHANGES = Counter(
    "ingest_change_notifications", "Change notifications sent, by outcome: delivered, failed.", ["outcome"]
)

ROW_OUTCOMES = {
    "rows_created": "created",
    "rows_updated": "updated",
    "rows_deleted": "deleted",
    "rows_stale": "stale",
    "placeholders_created": "placeholder",
    "errors_count": "error",
}


def observe_import(
    stream: str,
    status: str,
    counts: Mapping[str, int],
    duration: float | None,
    lag: float | None,
    event_buckets: Mapping[int, int],
    event_lag_sum: float,
) -> None:
    """Count one committed import."""
    stream = stream or "unknown"
    FILES.labels(stream, status).inc()
    for field, outcome in ROW_OUTCOMES.items():
        if counts.get(field):
            ROWS.labels(stream, outcome).inc(counts[field])
    if duration is not None:
        DURATION.labels(stream).observe(duration)
    if lag is not None:
        LAG.labels(stream).observe(lag)
    if event_buckets:
        # A file holds up to millions of events: add its histogram at once rather than observe each.
        # The buckets are the same bounds, so bucket i here is bucket i there.
        child = EVENT_LAG.labels(stream)
        for index, count in event_buckets.items():
            child._buckets[index].inc(count)
        child._sum.inc(event_lag_sum)


def observe_failure(stream: str) -> None:
    FILES.labels(stream or "unknown", "failed").inc()


class DatabaseCollector(Collector):
    """Gauges read from the database at scrape time."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from django.db.models import Count

        from ingest.models import ChangeNotification, FailedRecord, FailedRecordStatus
        from ingest.services.observing.freshness import stream_freshness

        items = stream_freshness()
        pending = GaugeMetricFamily("ingest_files_pending", "Files registered and not imported yet.", labels=["stream"])
        failed = GaugeMetricFamily("ingest_files_failed_current", "Files whose import failed.", labels=["stream"])
        age = GaugeMetricFamily(
            "ingest_last_import_age_seconds", "Seconds since the stream's last import committed.", labels=["stream"]
        )
        event_age = GaugeMetricFamily(
            "ingest_newest_event_age_seconds",
            "Seconds since the occurredAt of the newest event loaded (the ERP's clock).",
            labels=["stream"],
        )
        event_p95 = GaugeMetricFamily(
            "ingest_event_lag_p95_seconds", "p95 of occurredAt to committed rows.", labels=["stream", "window"]
        )
        for f in items:
            pending.add_metric([f.stream], f.pending)
            failed.add_metric([f.stream], f.failed)
            if f.age_seconds is not None:
                age.add_metric([f.stream], f.age_seconds)
            if f.event_age_seconds is not None:
                event_age.add_metric([f.stream], f.event_age_seconds)
            for window, value in (("1h", f.event_lag_hour.p95), ("24h", f.event_lag_day.p95)):
                if value is not None:
                    event_p95.add_metric([f.stream, window], value)
        yield from (pending, failed, age, event_age, event_p95)

        rejected = GaugeMetricFamily(
            "ingest_rejected_records", "Failed records waiting for a redrive (still failing).", labels=["stream"]
        )
        rows = (
            FailedRecord.objects.filter(status=FailedRecordStatus.REJECTED)
            .values_list("stream")
            .order_by()
            .annotate(n=Count("id"))
        )
        for stream, n in rows:
            rejected.add_metric([stream or "unknown"], n)
        yield rejected
        yield GaugeMetricFamily(
            "ingest_change_notifications_undelivered",
            "Change notifications written and not delivered yet.",
            value=ChangeNotification.objects.filter(delivered_at__isnull=True).count(),
        )


def exposition() -> tuple[bytes, str]:
    """The metrics page: this process's (or, in multiprocess mode, every process's) counters and
    histograms, then the database gauges."""
    database = CollectorRegistry(auto_describe=False)
    database.register(DatabaseCollector())
    from ingest.services.repair.reconcile.metrics import ReconcileCollector  # reconciliation's gauges (issue 19)

    database.register(ReconcileCollector())
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry(auto_describe=False)
        multiprocess.MultiProcessCollector(registry)
        process_metrics = generate_latest(registry)
    else:
        process_metrics = generate_latest(REGISTRY)
    return process_metrics + generate_latest(database), CONTENT_TYPE_LATEST


def mark_process_dead(pid: int) -> None:
    """For gunicorn's ``child_exit`` and Celery's ``worker_process_shutdown`` in multiprocess mode."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)
