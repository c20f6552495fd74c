"""Per stream and per hour, over the last week: rows written and event-to-row lag, for the charts.

Two aggregate queries, grouped by stream and hour in SQL (``ImportFile`` for rows,
``EventLagCount`` for the lag histograms), so the cost follows the hours shown, not the number
of imports.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Count, F, Q, Sum
from django.db.models.functions import TruncHour
from django.utils import timezone

from ingest.models import DONE_STATUSES, EventLagCount, ImportFile
from ingest.services.event_clock import bucket_percentile
from transforms.streams import STREAM_NAMES

WEEK_HOURS = 7 * 24


@dataclass
class HourlySeries:
    """One stream's hours, oldest first; every hour present (zeros and Nones where nothing happened)."""

    stream: str
    hours: list[datetime]
    rows: list[int]
    files: list[int]
    lag_p50: list[float | None]
    lag_p95: list[float | None]

    def last(self, n: int) -> HourlySeries:
        return HourlySeries(
            self.stream,
            self.hours[-n:],
            self.rows[-n:],
            self.files[-n:],
            self.lag_p50[-n:],
            self.lag_p95[-n:],
        )


@dataclass
class _Acc:
    rows: dict[datetime, int] = field(default_factory=dict)
    files: dict[datetime, int] = field(default_factory=dict)
    buckets: dict[datetime, dict[int, int]] = field(default_factory=lambda: defaultdict(dict))


def _hour_of(value: datetime) -> datetime:
    return value.replace(minute=0, second=0, microsecond=0)


def hourly_series(now: datetime | None = None, hours: int = WEEK_HOURS) -> dict[str, HourlySeries]:
    """The last ``hours`` hours (the current one included) of every stream."""
    now = now or timezone.now()
    current = _hour_of(now)
    start = current - timedelta(hours=hours - 1)
    acc: dict[str, _Acc] = defaultdict(_Acc)

    written = (
        ImportFile.objects.filter(stream__in=STREAM_NAMES, finished_at__gte=start, status__in=DONE_STATUSES)
        .annotate(hour=TruncHour("finished_at"))
        .values_list("stream", "hour")
        .order_by()
        .annotate(rows=Sum(F("rows_created") + F("rows_updated") + F("rows_deleted")), files=Count("id"))
    )
    for stream, hour, rows, files in written:
        acc[stream].rows[_hour_of(hour)] = int(rows or 0)
        acc[stream].files[_hour_of(hour)] = files

    lags = (
        EventLagCount.objects.filter(committed_at__gte=start, stream__in=STREAM_NAMES)
        .annotate(hour=TruncHour("committed_at"))
        .values_list("stream", "hour", "bucket")
        .order_by()
        .annotate(n=Sum("count"))
        .filter(~Q(n=0))
    )
    for stream, hour, bucket, n in lags:
        acc[stream].buckets[_hour_of(hour)][bucket] = int(n)

    axis = [start + timedelta(hours=i) for i in range(hours)]
    result = {}
    for stream in STREAM_NAMES:
        a = acc.get(stream, _Acc())
        result[stream] = HourlySeries(
            stream=stream,
            hours=axis,
            rows=[a.rows.get(h, 0) for h in axis],
            files=[a.files.get(h, 0) for h in axis],
            lag_p50=[bucket_percentile(a.buckets[h], 0.5) if h in a.buckets else None for h in axis],
            lag_p95=[bucket_percentile(a.buckets[h], 0.95) if h in a.buckets else None for h in axis],
        )
    return result
