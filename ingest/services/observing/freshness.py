"""How fresh and how complete each stream's data is: what the admin's freshness dashboard shows.

Everything comes from a handful of aggregate queries over ``ImportFile`` (never one query per
file or per stream): the last imported file of every stream, the files, rows and errors of the
last hour and day, the p50/p95 lag of the last day, and the files still pending or failed.
By the ERP's own clock (``ImportEventClock``, ``EventLagCount``): the age of the newest
``occurredAt`` loaded, and the event-to-row lag p50/p95 of the last hour and day.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Aggregate, Count, F, FloatField, Min, Q, QuerySet, Subquery, Sum
from django.db.models.expressions import CombinedExpression
from django.db.models.functions import Coalesce
from django.utils import timezone

from ingest.models import BACKLOG_STATUSES, DONE_STATUSES, EventLagCount, ImportEventClock, ImportFile, ImportStatus
from ingest.services.intake.ledger import last_imports_in_ledger
from ingest.services.observing import rollup
from ingest.services.observing.event_clock import bucket_percentile
from ingest.services.observing.percentiles import percentile
from transforms.streams import STREAM_NAMES

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
# Lag percentiles outside PostgreSQL come from at most this many of the day's most recent files.
MAX_LAG_SAMPLES = 50_000

PENDING_STATUSES = (ImportStatus.PENDING, ImportStatus.RUNNING)


class PercentileCont(Aggregate):
    """PostgreSQL's ``PERCENTILE_CONT(p) WITHIN GROUP (ORDER BY expr)`` (NULLs ignored)."""

    function = "PERCENTILE_CONT"
    name = "PercentileCont"
    template = "%(function)s(%(percentile)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def __init__(self, expression, percentile: float, **extra) -> None:
        if not 0.0 <= percentile <= 1.0:
            raise ValueError("percentile must be between 0 and 1")
        super().__init__(expression, percentile=float(percentile), **extra)


@dataclass(frozen=True)
class LastImport:
    id: int
    key: str
    bucket: str
    status: str
    finished_at: datetime
    pruned: bool = False  # from the ledger: the file itself is pruned


@dataclass(frozen=True)
class EventLag:
    """Event-to-row lag (occurredAt → committed) over a window."""

    events: int = 0
    p50: float | None = None
    p95: float | None = None


@dataclass(frozen=True)
class StreamFreshness:
    stream: str
    last_import: LastImport | None
    age_seconds: float | None
    stale: bool
    files_hour: int
    files_day: int
    rows_hour: int
    rows_day: int
    lines_day: int
    line_errors_day: int
    files_with_errors_day: int
    failed_day: int
    lag_p50_seconds: float | None
    lag_p95_seconds: float | None
    pending: int
    failed: int
    oldest_pending_at: datetime | None
    newest_occurred_at: datetime | None = None
    event_age_seconds: float | None = None
    event_lag_hour: EventLag = EventLag()
    event_lag_day: EventLag = EventLag()

    @property
    def error_rate(self) -> float | None:
        """Share of the day's lines that could not be imported (None without lines)."""
        return self.line_errors_day / self.lines_day if self.lines_day else None

    @property
    def bad_files_day(self) -> int:
        """The day's files that failed or had bad lines."""
        return self.files_with_errors_day + self.failed_day

    @property
    def file_error_rate(self) -> float | None:
        """Share of the day's finished files that failed or had bad lines (None without files)."""
        finished = self.files_day + self.failed_day
        return self.bad_files_day / finished if finished else None


def _last_imports() -> dict[str, LastImport]:
    # One query: nine scalar subqueries (each walks the (stream, -finished_at) index for one row),
    # so the cost does not grow with the number of files.
    latest = [
        Q(
            pk=Subquery(
                ImportFile.objects.filter(stream=stream, status__in=DONE_STATUSES, finished_at__isnull=False)
                .order_by("-finished_at", "-id")
                .values("pk")[:1]
            )
        )
        for stream in STREAM_NAMES
    ]
    condition = latest[0]
    for q in latest[1:]:
        condition |= q
    rows = ImportFile.objects.filter(condition).values_list("id", "stream", "key", "bucket", "status", "finished_at")
    return {
        stream: LastImport(id=pk, key=key, bucket=bucket, status=status, finished_at=finished)
        for pk, stream, key, bucket, status, finished in rows
        if finished is not None  # always, by the subqueries; said for the type checker
    }


def _rows_written() -> CombinedExpression:
    return F("rows_created") + F("rows_updated") + F("rows_deleted")


def _window_totals(now: datetime, *, with_percentiles: bool) -> dict[str, dict]:
    hour_ago, day_ago = now - HOUR, now - DAY
    done = Q(status__in=DONE_STATUSES)
    in_hour = Q(finished_at__gte=hour_ago)
    aggregates = {
        "files_hour": Count("id", filter=done & in_hour),
        "files_day": Count("id", filter=done),
        "rows_hour": Coalesce(Sum(_rows_written(), filter=done & in_hour), 0),
        "rows_day": Coalesce(Sum(_rows_written(), filter=done), 0),
        "lines_day": Coalesce(Sum("lines_total", filter=done), 0),
        "line_errors_day": Coalesce(Sum("errors_count", filter=done), 0),
        "files_with_errors_day": Count("id", filter=Q(status=ImportStatus.IMPORTED_WITH_ERRORS)),
        "failed_day": Count("id", filter=Q(status=ImportStatus.FAILED)),
    }
    if with_percentiles:
        aggregates["lag_p50"] = PercentileCont("lag_seconds", 0.5, filter=done)
        aggregates["lag_p95"] = PercentileCont("lag_seconds", 0.95, filter=done)
    rows = (
        # stream__in lets PostgreSQL use the (stream, -finished_at) index for the day's range.
        ImportFile.objects.filter(stream__in=STREAM_NAMES, finished_at__gte=day_ago)
        .values("stream")
        .order_by()
        .annotate(**aggregates)
    )
    return _by_stream(rows)


def _by_stream(rows: Iterable[Mapping[str, Any]]) -> dict[str, dict]:
    """Aggregate rows grouped by stream, keyed by it."""
    by_stream = {}
    for row in rows:
        values = dict(row)
        by_stream[values.pop("stream")] = values
    return by_stream


def _lag_percentiles_in_python(now: datetime) -> dict[str, tuple[float | None, float | None]]:
    values = (
        ImportFile.objects.filter(
            stream__in=STREAM_NAMES,
            finished_at__gte=now - DAY,
            status__in=DONE_STATUSES,
            lag_seconds__isnull=False,
        )
        .order_by("-finished_at")
        .values_list("stream", "lag_seconds")[:MAX_LAG_SAMPLES]
    )
    lags: dict[str, list[float]] = defaultdict(list)
    for stream, lag in values:
        if lag is not None:  # always, by the filter
            lags[stream].append(lag)
    result = {}
    for stream, samples in lags.items():
        samples.sort()
        result[stream] = (percentile(samples, 50), percentile(samples, 95))
    return result


def _backlog() -> dict[str, dict]:
    return _by_stream(backlog_query())


def backlog_query() -> QuerySet:
    """Per stream, the files waiting and failed, and the oldest waiting one's creation.

    Only columns of the partial index ingest_file_backlog (the count of status, never NULL, not of
    the id): on PostgreSQL an index-only scan of the waiting and failed files, however many are done."""
    return (
        ImportFile.objects.filter(status__in=BACKLOG_STATUSES)
        .values("stream")
        .order_by()
        .annotate(
            pending=Count("status", filter=Q(status__in=PENDING_STATUSES)),
            failed=Count("status", filter=Q(status=ImportStatus.FAILED)),
            oldest_pending_at=Min("created_at", filter=Q(status__in=PENDING_STATUSES)),
        )
    )


def _newest_events() -> dict[str, datetime]:
    # As _last_imports: nine scalar subqueries, each one step down the (stream, -newest) index.
    condition = Q()
    for stream in STREAM_NAMES:
        condition |= Q(
            pk=Subquery(
                ImportEventClock.objects.filter(stream=stream, newest_occurred_at__isnull=False)
                .order_by("-newest_occurred_at")
                .values("pk")[:1]
            )
        )
    rows = ImportEventClock.objects.filter(condition).values_list("stream", "newest_occurred_at")
    return {stream: newest for stream, newest in rows if newest is not None}


def _event_lags(now: datetime) -> dict[str, tuple[EventLag, EventLag]]:
    """Per stream, the event-to-row lag of the last hour and day, from the summed histograms."""
    rows = (
        EventLagCount.objects.filter(committed_at__gte=now - DAY, stream__in=STREAM_NAMES)
        .values_list("stream", "bucket")
        .order_by()
        .annotate(day=Sum("count"), hour=Sum("count", filter=Q(committed_at__gte=now - HOUR)))
    )
    hours: dict[str, dict[int, int]] = defaultdict(dict)
    days: dict[str, dict[int, int]] = defaultdict(dict)
    for stream, bucket, day, hour in rows:
        days[stream][bucket] = int(day or 0)
        hours[stream][bucket] = int(hour or 0)

    def lag(buckets: dict[int, int]) -> EventLag:
        return EventLag(sum(buckets.values()), bucket_percentile(buckets, 0.5), bucket_percentile(buckets, 0.95))

    return {stream: (lag(hours[stream]), lag(days[stream])) for stream in days}


def stream_freshness(now: datetime | None = None, streams: Iterable[str] = STREAM_NAMES) -> list[StreamFreshness]:
    """The freshness of every stream at ``now`` (default: the current time), in stream order."""
    now = now or timezone.now()
    streams = list(streams)
    stale_after = settings.INGEST_STALE_AFTER_SECONDS
    on_postgres = connection.vendor == "postgresql"
    last = _last_imports()
    # A stream whose every file is pruned: its newest ledger entry; its newest event: the aggregates'.
    for stream, (entry, imported_at) in last_imports_in_ledger(streams).items():
        if stream not in last:
            last[stream] = LastImport(entry.import_file_id, entry.key, entry.bucket, entry.status, imported_at, True)
    totals = _window_totals(now, with_percentiles=on_postgres)
    lags = {} if on_postgres else _lag_percentiles_in_python(now)
    backlog = _backlog()
    newest_events = _newest_events()
    for stream, remembered in rollup.newest_events_rolled_up(streams).items():
        if stream not in newest_events or remembered > newest_events[stream]:
            newest_events[stream] = remembered
    event_lags = _event_lags(now)

    result = []
    for stream in streams:
        last_import = last.get(stream)
        age = max(0.0, (now - last_import.finished_at).total_seconds()) if last_import else None
        window = totals.get(stream, {})
        waiting = backlog.get(stream, {})
        if on_postgres:
            p50, p95 = window.get("lag_p50"), window.get("lag_p95")
        else:
            p50, p95 = lags.get(stream, (None, None))
        newest = newest_events.get(stream)
        event_hour, event_day = event_lags.get(stream, (EventLag(), EventLag()))
        result.append(
            StreamFreshness(
                stream=stream,
                last_import=last_import,
                age_seconds=age,
                stale=age is None or age > stale_after,
                files_hour=window.get("files_hour", 0),
                files_day=window.get("files_day", 0),
                rows_hour=window.get("rows_hour", 0),
                rows_day=window.get("rows_day", 0),
                lines_day=window.get("lines_day", 0),
                line_errors_day=window.get("line_errors_day", 0),
                files_with_errors_day=window.get("files_with_errors_day", 0),
                failed_day=window.get("failed_day", 0),
                lag_p50_seconds=p50,
                lag_p95_seconds=p95,
                pending=waiting.get("pending", 0),
                failed=waiting.get("failed", 0),
                oldest_pending_at=waiting.get("oldest_pending_at"),
                newest_occurred_at=newest,
                event_age_seconds=max(0.0, (now - newest).total_seconds()) if newest else None,
                event_lag_hour=event_hour,
                event_lag_day=event_day,
            )
        )
    return result
