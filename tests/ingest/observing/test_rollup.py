"""The hourly and daily aggregates (ingest/services/observing/rollup.py): what they hold, and that the charts
and the freshness dashboard show the same history once the import files are pruned."""

from __future__ import annotations

from datetime import UTC, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from ingest.models import EventLagCount, ImportEventClock, ImportFile, StatsPeriod, StreamStats
from ingest.services.observing import rollup
from ingest.services.observing.event_clock import bucket_percentile
from ingest.services.observing.freshness import stream_freshness
from ingest.services.observing.hourly import hourly_series
from ingest.services.retention import prune as retention
from ingest.testing.imports import import_events
from ingest.testing.samples import orders_at
from transforms.streams import STREAM_NAMES

pytestmark = pytest.mark.django_db(transaction=True)


def imported_hours_ago(tmp_path, name: str, hours: float, events: int, lag_seconds: float = 20.0) -> ImportFile:
    """A file really imported, then moved ``hours`` back with its clock (events ``lag_seconds`` old)."""
    now = timezone.now()
    outcome = import_events(orders_at([now - timedelta(seconds=lag_seconds)] * events, run=name), tmp_path, name)
    then = now - timedelta(hours=hours)
    ImportFile.objects.filter(pk=outcome.import_file_id).update(created_at=then, finished_at=then, lag_seconds=3.0)
    EventLagCount.objects.filter(import_file_id=outcome.import_file_id).update(committed_at=then)
    ImportEventClock.objects.filter(import_file_id=outcome.import_file_id).update(
        committed_at=then, newest_occurred_at=then - timedelta(seconds=lag_seconds)
    )
    return ImportFile.objects.get(pk=outcome.import_file_id)


def test_an_hour_holds_its_files_rows_errors_and_lags(tmp_path):
    a = imported_hours_ago(tmp_path, "a", 5, 3)
    b = imported_hours_ago(tmp_path, "b", 5, 2, lag_seconds=200)
    ImportFile.objects.create(
        bucket="", key="orders/failed", etag="f", stream="orders", status="failed", finished_at=a.finished_at
    )
    hours, _days = rollup.rollup()
    # The files' hour, 5 hours back, up to the last hour complete GRACE ago: 4 hours in the first ten
    # minutes of an hour, 5 after them.
    assert hours >= 4
    assert a.finished_at is not None
    hour = StreamStats.objects.get(period=StatsPeriod.HOUR, stream="orders", start=rollup._floor_hour(a.finished_at))
    assert (hour.files, hour.failed) == (2, 1)
    assert hour.rows == a.rows_created + a.rows_updated + b.rows_created + b.rows_updated
    assert hour.lines == a.lines_total + b.lines_total
    assert hour.lag_buckets == {str(rollup.lag_bucket(3.0)): 2}
    assert sum(hour.event_lag_buckets.values()) == 5
    p90 = bucket_percentile(rollup.buckets_of(hour.event_lag_buckets), 0.9)
    assert p90 is not None and 100 <= p90 <= 300
    assert hour.newest_occurred_at == a.finished_at - timedelta(seconds=20)
    # Every stream gets its hours, zeros included: the newest hour is the watermark.
    assert StreamStats.objects.filter(period=StatsPeriod.HOUR, start=hour.start).count() == len(STREAM_NAMES)
    until = rollup.rolled_until()
    assert until is not None and until <= timezone.now() - rollup.GRACE + timedelta(hours=1)
    # Rolled up once: a second call has nothing to do.
    assert rollup.rollup() == (0, 0)


def test_a_day_is_the_sum_of_its_hours(tmp_path):
    now = timezone.now()
    day_start = (now - timedelta(days=2)).astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    hours_ago = [(now - (day_start + timedelta(hours=h, minutes=30))).total_seconds() / 3600 for h in (1, 13, 23)]
    files = [imported_hours_ago(tmp_path, f"d{n}", h, 2) for n, h in enumerate(hours_ago)]
    rollup.rollup()
    day = StreamStats.objects.get(period=StatsPeriod.DAY, stream="orders", start=day_start)
    assert day.files == 3
    assert day.rows == sum(f.rows_created + f.rows_updated for f in files)
    assert sum(day.event_lag_buckets.values()) == 6
    hours = StreamStats.objects.filter(
        period=StatsPeriod.HOUR, stream="orders", start__gte=day_start, start__lt=day_start + timedelta(days=1)
    )
    assert sum(h.files for h in hours) == day.files


def test_the_charts_and_freshness_keep_their_history_once_the_files_are_pruned(tmp_path, settings, client):
    now = timezone.now()
    for n, hours in enumerate((10, 50, 70, 100)):
        imported_hours_ago(tmp_path, f"c{n}", hours, 2 + n, lag_seconds=15 * (n + 1))
    before = hourly_series(now)["orders"]
    fresh_before = {f.stream: f for f in stream_freshness(now)}["orders"]
    assert sum(before.files) == 4

    settings.INGEST_RETAIN_IMPORT_FILES_DAYS = 1
    report = retention.prune(pause=0)
    assert report.removed["import_files"] == 3  # the 10-hour-old one is younger than a day
    assert ImportFile.objects.count() == 1

    after = hourly_series(now)["orders"]
    assert after.rows == before.rows and after.files == before.files
    assert after.lag_p50 == before.lag_p50 and after.lag_p95 == before.lag_p95

    # Every file of the stream pruned: the dashboard still knows its last import and newest event.
    settings.INGEST_RETAIN_IMPORT_FILES_DAYS = 0
    retention.prune(pause=0, older_than=timedelta(0), kinds=("import_files",))
    assert not ImportFile.objects.exists()
    fresh = {f.stream: f for f in stream_freshness(now)}["orders"]
    assert fresh.last_import is not None and fresh.last_import.pruned
    assert fresh_before.last_import is not None
    assert fresh.last_import.finished_at == fresh_before.last_import.finished_at
    assert fresh.newest_occurred_at == fresh_before.newest_occurred_at
    assert hourly_series(now)["orders"].rows == before.rows

    admin = get_user_model().objects.create_superuser("root", "root@example.com", "pw-not-used")
    client.force_login(admin)
    page = client.get(reverse("admin:ingest_freshness"))
    assert page.status_code == 200
    assert reverse("admin:ingest_importledgerentry_changelist") in page.content.decode()
    for name in ("importledgerentry", "streamstats"):
        assert client.get(reverse(f"admin:ingest_{name}_changelist")).status_code == 200
