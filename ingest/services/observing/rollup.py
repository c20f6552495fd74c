"""Hourly and daily aggregates per stream (``StreamStats``): what the charts and the freshness
dashboard read for the periods whose import files are pruned.

Every complete hour (ended ``GRACE`` ago: a file's ``finished_at`` is its commit time, so nothing
lands in an hour after that) is rolled up once, for all nine streams, zeros included: the newest
hour row is the watermark (``rolled_until``), and pruning never removes a file past it. A day is
rolled up from its 24 hour rows once they are all there. A backlog (the first run on a year of
files) is rolled up a day per query group, so the cost follows the hours, not the files.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.db import connection, transaction
from django.db.models import Max, Min, Q
from django.utils import timezone

from ingest.models import DONE_STATUSES, EventLagCount, ImportEventClock, ImportFile, ImportStatus
from ingest.models.retention import StatsPeriod, StreamStats
from ingest.services.observing.event_clock import LAG_BUCKETS
from transforms.streams import STREAM_NAMES

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
GRACE = timedelta(minutes=10)
# Hours rolled up per round of queries: a week keeps each query's range small (a few thousand
# files at a file a minute per stream) and a year's backlog to 53 rounds.
CHUNK_HOURS = 7 * 24


@dataclass
class _Hour:
    files: int = 0
    files_with_errors: int = 0
    failed: int = 0
    lines: int = 0
    rows: int = 0
    errors: int = 0
    lag_buckets: dict[int, int] = field(default_factory=dict)
    event_lag_buckets: dict[int, int] = field(default_factory=dict)
    newest_occurred_at: datetime | None = None
    last_import_at: datetime | None = None


def _floor_hour(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _hour_index(column: str) -> str:
    """SQL: whole hours from a start (epoch seconds, a parameter) to ``column``."""
    if connection.vendor == "postgresql":
        return f"((floor(extract(epoch from {column}))::bigint - %s) / 3600)"
    return f"((CAST(strftime('%%s', {column}) AS INTEGER) - %s) / 3600)"


def _lag_bucket_sql(column: str) -> str:
    """SQL: the LAG_BUCKETS index of ``column`` (bisect_left: the first bound >= the value)."""
    cases = " ".join(f"WHEN {column} <= {bound!r} THEN {i}" for i, bound in enumerate(LAG_BUCKETS[:-1]))
    return f"CASE {cases} ELSE {len(LAG_BUCKETS) - 1} END"


def lag_bucket(seconds: float) -> int:
    return bisect.bisect_left(LAG_BUCKETS, seconds)


def _as_datetime(value) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value if value is None or value.tzinfo else value.replace(tzinfo=UTC)
    parsed = datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _collect(lo: datetime, hi: datetime) -> dict[tuple[str, int], _Hour]:
    """The hours of [lo, hi) per (stream, hour index from lo), from the live tables."""
    epoch = int(lo.timestamp())
    streams = list(STREAM_NAMES)
    marks = ", ".join(["%s"] * len(streams))
    files, lags, clocks = (m._meta.db_table for m in (ImportFile, EventLagCount, ImportEventClock))
    done = [str(s) for s in DONE_STATUSES]
    done_sql = "status IN (%s, %s)"
    acc: dict[tuple[str, int], _Hour] = defaultdict(_Hour)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT stream, {_hour_index('finished_at')} AS h,"  # noqa: S608 - values are parameters
            f" SUM(CASE WHEN {done_sql} THEN 1 ELSE 0 END),"
            " SUM(CASE WHEN status = %s THEN 1 ELSE 0 END), SUM(CASE WHEN status = %s THEN 1 ELSE 0 END),"
            f" SUM(CASE WHEN {done_sql} THEN lines_total ELSE 0 END),"
            f" SUM(CASE WHEN {done_sql} THEN rows_created + rows_updated + rows_deleted ELSE 0 END),"
            f" SUM(CASE WHEN {done_sql} THEN errors_count ELSE 0 END),"
            f" MAX(CASE WHEN {done_sql} THEN finished_at END)"
            f" FROM {files} WHERE finished_at >= %s AND finished_at < %s AND stream IN ({marks})"
            " GROUP BY stream, h",
            [
                epoch,
                *done,
                str(ImportStatus.IMPORTED_WITH_ERRORS),
                str(ImportStatus.FAILED),
                *done,
                *done,
                *done,
                *done,
                lo,
                hi,
                *streams,
            ],
        )
        for stream, h, n, with_errors, failed, lines, rows, errors, last in cursor.fetchall():
            hour = acc[(stream, int(h))]
            hour.files, hour.files_with_errors, hour.failed = int(n or 0), int(with_errors or 0), int(failed or 0)
            hour.lines, hour.rows, hour.errors = int(lines or 0), int(rows or 0), int(errors or 0)
            hour.last_import_at = _as_datetime(last)
        cursor.execute(
            f"SELECT stream, {_hour_index('finished_at')} AS h, {_lag_bucket_sql('lag_seconds')} AS b, COUNT(*)"  # noqa: S608
            f" FROM {files} WHERE finished_at >= %s AND finished_at < %s AND stream IN ({marks})"
            f" AND {done_sql} AND lag_seconds IS NOT NULL GROUP BY stream, h, b",
            [epoch, lo, hi, *streams, *done],
        )
        for stream, h, b, n in cursor.fetchall():
            acc[(stream, int(h))].lag_buckets[int(b)] = int(n)
        cursor.execute(
            f"SELECT stream, {_hour_index('committed_at')} AS h, bucket, SUM(count)"  # noqa: S608
            f" FROM {lags} WHERE committed_at >= %s AND committed_at < %s AND stream IN ({marks})"
            " GROUP BY stream, h, bucket",
            [epoch, lo, hi, *streams],
        )
        for stream, h, b, n in cursor.fetchall():
            if n:
                acc[(stream, int(h))].event_lag_buckets[int(b)] = int(n)
        cursor.execute(
            f"SELECT stream, {_hour_index('committed_at')} AS h, MAX(newest_occurred_at)"  # noqa: S608
            f" FROM {clocks} WHERE committed_at >= %s AND committed_at < %s AND stream IN ({marks})"
            " GROUP BY stream, h",
            [epoch, lo, hi, *streams],
        )
        for stream, h, newest in cursor.fetchall():
            acc[(stream, int(h))].newest_occurred_at = _as_datetime(newest)
    return acc


_VALUE_FIELDS = [
    "files",
    "files_with_errors",
    "failed",
    "lines",
    "rows",
    "errors",
    "lag_buckets",
    "event_lag_buckets",
    "newest_occurred_at",
    "last_import_at",
    "rolled_up_at",
]


def _upsert(rows: list[StreamStats]) -> None:
    StreamStats.objects.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["period", "stream", "start"],
        update_fields=_VALUE_FIELDS,
        batch_size=500,
    )


def _stats_row(period: str, start: datetime, stream: str, h: _Hour, now: datetime) -> StreamStats:
    return StreamStats(
        period=period,
        start=start,
        stream=stream,
        files=h.files,
        files_with_errors=h.files_with_errors,
        failed=h.failed,
        lines=h.lines,
        rows=h.rows,
        errors=h.errors,
        lag_buckets={str(k): v for k, v in sorted(h.lag_buckets.items())},
        event_lag_buckets={str(k): v for k, v in sorted(h.event_lag_buckets.items())},
        newest_occurred_at=h.newest_occurred_at,
        last_import_at=h.last_import_at,
        rolled_up_at=now,
    )


def rolled_until(period: str = StatsPeriod.HOUR) -> datetime | None:
    """The end of the newest period rolled up (None before the first rollup)."""
    newest = StreamStats.objects.filter(period=period).aggregate(m=Max("start"))["m"]
    if newest is None:
        return None
    return newest + (HOUR if period == StatsPeriod.HOUR else DAY)


def _first_hour() -> datetime | None:
    first = ImportFile.objects.filter(finished_at__isnull=False).aggregate(m=Min("created_at"))["m"]
    # A file finishes after it is registered: its creation hour is early enough.
    return _floor_hour(first) if first is not None else None


def rollup_hours(now: datetime | None = None, *, max_hours: int | None = None) -> int:
    """Roll up every complete hour not rolled up yet (at most ``max_hours``); returns how many."""
    now = now or timezone.now()
    end = _floor_hour(now - GRACE)
    start = rolled_until(StatsPeriod.HOUR) or _first_hour()
    if start is None or start >= end:
        return 0
    if max_hours is not None:
        end = min(end, start + max_hours * HOUR)
    done = 0
    lo = start
    while lo < end:
        hi = min(end, lo + CHUNK_HOURS * HOUR)
        hours = int((hi - lo) / HOUR)
        acc = _collect(lo, hi)
        rows = [
            _stats_row(StatsPeriod.HOUR, lo + i * HOUR, stream, acc.get((stream, i), _Hour()), now)
            for i in range(hours)
            for stream in STREAM_NAMES
        ]
        with transaction.atomic():
            _upsert(rows)
        done += hours
        lo = hi
    return done


def _merge(target: dict[int, int], source: dict) -> None:
    for k, v in source.items():
        target[int(k)] = target.get(int(k), 0) + int(v)


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None or b is None:
        return a or b
    return max(a, b)


def rollup_days(now: datetime | None = None) -> int:
    """Roll up every UTC day whose 24 hours are rolled up, from those hour rows; returns how many."""
    now = now or timezone.now()
    hours_end = rolled_until(StatsPeriod.HOUR)
    if hours_end is None:
        return 0
    end = hours_end.astimezone(UTC).replace(hour=0)
    start = rolled_until(StatsPeriod.DAY)
    if start is None:
        first = StreamStats.objects.filter(period=StatsPeriod.HOUR).aggregate(m=Min("start"))["m"]
        start = first.astimezone(UTC).replace(hour=0)
    days = 0
    day = start
    while day < end:
        acc: dict[str, _Hour] = defaultdict(_Hour)
        for s in StreamStats.objects.filter(period=StatsPeriod.HOUR, start__gte=day, start__lt=day + DAY):
            h = acc[s.stream]
            h.files += s.files
            h.files_with_errors += s.files_with_errors
            h.failed += s.failed
            h.lines += s.lines
            h.rows += s.rows
            h.errors += s.errors
            _merge(h.lag_buckets, s.lag_buckets)
            _merge(h.event_lag_buckets, s.event_lag_buckets)
            h.newest_occurred_at = _later(h.newest_occurred_at, s.newest_occurred_at)
            h.last_import_at = _later(h.last_import_at, s.last_import_at)
        with transaction.atomic():
            _upsert([_stats_row(StatsPeriod.DAY, day, stream, acc[stream], now) for stream in STREAM_NAMES])
        days += 1
        day += DAY
    return days


def rollup(now: datetime | None = None, *, max_hours: int | None = None) -> tuple[int, int]:
    """Hours, then days: (hours rolled up, days rolled up)."""
    hours = rollup_hours(now, max_hours=max_hours)
    return hours, rollup_days(now)


def buckets_of(value: dict) -> dict[int, int]:
    return {int(k): int(v) for k, v in value.items()}


def newest_events_rolled_up(streams: Iterable[str]) -> dict[str, datetime]:
    """Per stream, the newest ``occurredAt`` the aggregates remember (pruned imports' included):
    one query over the day rows and the last two days' hour rows."""
    rows = (
        StreamStats.objects.filter(stream__in=list(streams), newest_occurred_at__isnull=False)
        .filter(Q(period=StatsPeriod.DAY) | Q(period=StatsPeriod.HOUR, start__gte=timezone.now() - 2 * DAY))
        .values_list("stream")
        .order_by()
        .annotate(m=Max("newest_occurred_at"))
    )
    return {stream: newest for stream, newest in rows if newest is not None}


def rolled_up_hours(start: datetime) -> list[StreamStats]:
    """The hour rows from ``start`` on, for the charts (one query). Their newest is the watermark
    when it lies after ``start``; before it, the charts read no aggregates at all."""
    return list(
        StreamStats.objects.filter(period=StatsPeriod.HOUR, start__gte=start)
        .order_by()
        .only("stream", "start", "rows", "files", "event_lag_buckets")
    )
