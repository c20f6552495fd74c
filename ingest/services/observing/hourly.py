"""Per stream and per hour, over the last week: rows written and event-to-row lag, for the charts.

Two aggregate queries, grouped by stream and hour in SQL (``ImportFile`` for rows,
``EventLagCount`` for the lag histograms), so the cost follows the hours shown, not the number
of imports. Raw SQL (the same on PostgreSQL and SQLite but for the hour arithmetic) because the
ORM's per-row datetime conversion cost more than the queries. Hours already rolled up
(``ingest.services.observing.rollup``; their files may be pruned) are read from ``StreamStats`` instead, so
the charts keep their history.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import connection
from django.utils import timezone

from ingest.models import DONE_STATUSES, EventLagCount, ImportFile
from ingest.services.observing import rollup
from ingest.services.observing.event_clock import bucket_percentile
from transforms.streams import STREAM_NAMES

WEEK_HOURS = 7 * 24


def _hour_index(column: str, vendor: str) -> str:
    """SQL: whole hours from the window's start (epoch seconds, a parameter) to ``column``.

    An integer rather than ``date_trunc``: the ORM converts a datetime per row in Python, and a
    week of hourly rows for nine streams is thousands of rows."""
    if vendor == "postgresql":
        return f"((floor(extract(epoch from {column}))::bigint - %s) / 3600)"
    return f"((CAST(strftime('%%s', {column}) AS INTEGER) - %s) / 3600)"


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
    """Per hour index (0 = the window's first hour)."""

    rows: dict[int, int] = field(default_factory=dict)
    files: dict[int, int] = field(default_factory=dict)
    buckets: dict[int, dict[int, int]] = field(default_factory=lambda: defaultdict(dict))


def _hour_of(value: datetime) -> datetime:
    return value.replace(minute=0, second=0, microsecond=0)


def hourly_series(now: datetime | None = None, hours: int = WEEK_HOURS) -> dict[str, HourlySeries]:
    """The last ``hours`` hours (the current one included) of every stream."""
    now = now or timezone.now()
    current = _hour_of(now)
    start = current - timedelta(hours=hours - 1)
    acc: dict[str, _Acc] = defaultdict(_Acc)
    vendor = connection.vendor
    epoch = int(start.timestamp())
    streams = list(STREAM_NAMES)
    marks = ", ".join(["%s"] * len(streams))
    files = ImportFile._meta.db_table
    lags = EventLagCount._meta.db_table
    done = [str(s) for s in DONE_STATUSES]
    rolled_up = rollup.rolled_up_hours(start)
    live_from = max(s.start for s in rolled_up) + timedelta(hours=1) if rolled_up else start
    for s in rolled_up:
        index = int((s.start - start) / timedelta(hours=1))
        acc[s.stream].rows[index] = s.rows
        acc[s.stream].files[index] = s.files
        if s.event_lag_buckets:
            acc[s.stream].buckets[index] = rollup.buckets_of(s.event_lag_buckets)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT stream, {_hour_index('finished_at', vendor)} AS h,"  # noqa: S608 - values are parameters
            " SUM(rows_created + rows_updated + rows_deleted), COUNT(*)"
            f" FROM {files} WHERE finished_at >= %s AND stream IN ({marks}) AND status IN (%s, %s)"
            " GROUP BY stream, h",
            [epoch, live_from, *streams, *done],
        )
        for stream, hour, rows, count in cursor.fetchall():
            acc[stream].rows[int(hour)] = int(rows or 0)
            acc[stream].files[int(hour)] = int(count)
        cursor.execute(
            f"SELECT stream, {_hour_index('committed_at', vendor)} AS h, bucket, SUM(count)"  # noqa: S608
            f" FROM {lags} WHERE committed_at >= %s AND stream IN ({marks})"
            " GROUP BY stream, h, bucket",
            [epoch, live_from, *streams],
        )
        for stream, hour, bucket, n in cursor.fetchall():
            if n:
                acc[stream].buckets[int(hour)][int(bucket)] = int(n)

    axis = [start + timedelta(hours=i) for i in range(hours)]
    result = {}
    for stream in STREAM_NAMES:
        a = acc.get(stream, _Acc())
        buckets = [a.buckets.get(i) for i in range(hours)]
        result[stream] = HourlySeries(
            stream=stream,
            hours=axis,
            rows=[a.rows.get(i, 0) for i in range(hours)],
            files=[a.files.get(i, 0) for i in range(hours)],
            lag_p50=[bucket_percentile(b, 0.5) if b else None for b in buckets],
            lag_p95=[bucket_percentile(b, 0.95) if b else None for b in buckets],
        )
    return result
