"""Freshness by the ERP's clock: the newest occurredAt loaded and the event-to-row lag, per stream,
written with each import and summed over windows in SQL."""

from __future__ import annotations

import logging
import math
from datetime import timedelta

import pytest
from django.utils import timezone

from ingest.models import EventLagCount, ImportEventClock, ImportFile
from ingest.services.importing.parsing import LineParser
from ingest.services.importing.run import import_file
from ingest.services.observing.event_clock import LAG_BUCKETS, EventClock, bucket_percentile
from ingest.services.observing.freshness import stream_freshness
from ingest.services.observing.hourly import hourly_series
from ingest.services.observing.periodic import log_freshness
from ingest.testing.imports import import_events, register_and_import, write_events
from ingest.testing.samples import orders_at
from transforms.streams import STREAMS
from transforms.system_one.writer import write_record

pytestmark = pytest.mark.django_db(transaction=True)


def by_stream(items):
    return {f.stream: f for f in items}


def test_bucket_percentiles_interpolate_inside_a_bucket():
    # 10 events between 1 and 2.5 s (bucket 4), 10 between 10 and 30 s (bucket 7).
    assert LAG_BUCKETS[4] == 2.5 and LAG_BUCKETS[7] == 30.0
    buckets = {4: 10, 7: 10}
    assert bucket_percentile(buckets, 0.5) == pytest.approx(2.5)
    assert bucket_percentile(buckets, 0.95) == pytest.approx(10 + 20 * 9 / 10)
    assert bucket_percentile({len(LAG_BUCKETS) - 1: 3}, 0.5) == LAG_BUCKETS[-2]
    assert bucket_percentile({}, 0.5) is None
    assert math.isinf(LAG_BUCKETS[-1])


def test_the_clock_counts_each_event_in_its_bucket():
    now = timezone.now()
    clock = EventClock()
    events = orders_at([now - timedelta(seconds=s) for s in (0.05, 3, 3, 40, 90_000)], run="clk")
    parser = LineParser(STREAMS["orders"])
    clock.observe([parser.parse(write_record(e).encode().rstrip(b"\n"), n) for n, e in enumerate(events, 1)])
    summary = clock.summarize(now)
    assert summary.events == 5
    assert summary.buckets == {0: 1, 5: 2, 8: 1, 17: 1}
    assert summary.newest_occurred_at is not None
    assert abs(summary.newest_occurred_at - (now - timedelta(seconds=0.05))) < timedelta(milliseconds=2)
    assert summary.lag_sum_seconds == pytest.approx(0.05 + 3 + 3 + 40 + 90_000, abs=0.01)


def test_an_import_records_its_clock_and_the_dashboard_reads_it(tmp_path):
    now = timezone.now()
    lags = [5.0] * 10 + [40.0] * 9 + [4000.0]
    outcome = import_events(orders_at([now - timedelta(seconds=s) for s in lags], run="fresh"), tmp_path, "a")
    clock = ImportEventClock.objects.get(import_file_id=outcome.import_file_id)
    assert clock.events == 20 and clock.stream == "orders"
    assert clock.newest_occurred_at is not None
    assert (clock.committed_at - clock.newest_occurred_at).total_seconds() == pytest.approx(5.0, abs=1.0)
    assert sum(EventLagCount.objects.values_list("count", flat=True)) == 20

    f = by_stream(stream_freshness())
    orders = f["orders"]
    assert orders.event_age_seconds == pytest.approx(5.0, abs=2.0)
    assert orders.event_lag_hour.events == orders.event_lag_day.events == 20
    assert 2.5 <= orders.event_lag_hour.p50 <= 10  # the 10th and 11th events sit in the 5 s / 40 s buckets
    assert 30 <= orders.event_lag_day.p95 <= 60
    assert f["customers"].event_age_seconds is None and f["customers"].event_lag_day.p50 is None

    # An import committed two hours ago counts for the day, not for the hour.
    ImportFile.objects.update(finished_at=now - timedelta(hours=2))
    EventLagCount.objects.update(committed_at=now - timedelta(hours=2))
    orders = by_stream(stream_freshness())["orders"]
    assert orders.event_lag_hour.events == 0 and orders.event_lag_day.events == 20


def test_the_newest_event_is_the_newest_across_imports(tmp_path):
    now = timezone.now()
    import_events(orders_at([now - timedelta(minutes=3)], run="new"), tmp_path, "newer")
    # A later import of older events (a replay) does not make the stream look older.
    import_events(orders_at([now - timedelta(days=3)], run="old"), tmp_path, "older")
    orders = by_stream(stream_freshness())["orders"]
    assert orders.event_age_seconds == pytest.approx(180, abs=5)


def test_a_reimport_replaces_the_clock_and_the_lag_counts(tmp_path):
    from ingest.services.importing import lifecycle

    now = timezone.now()
    first = import_events(orders_at([now - timedelta(seconds=5)] * 3, run="again"), tmp_path, "again")
    before = ImportEventClock.objects.get(import_file_id=first.import_file_id).committed_at
    assert lifecycle.reset_for_reimport(first.import_file_id, enqueue=False) == ""
    assert import_file(first.import_file_id, trigger="reimport").ran
    clock = ImportEventClock.objects.get(import_file_id=first.import_file_id)
    assert clock.events == 3 and clock.committed_at > before
    lags = EventLagCount.objects.filter(import_file_id=first.import_file_id)
    assert sum(lags.values_list("count", flat=True)) == 3
    assert set(lags.values_list("committed_at", flat=True)) == {clock.committed_at}


def test_a_dry_run_records_no_clock(tmp_path):
    path = write_events(orders_at([timezone.now()], run="dry"), tmp_path, "dry")
    _f, outcome = register_and_import(path, trigger="task", dry_run=True)
    assert outcome.ran
    assert not ImportEventClock.objects.exists() and not EventLagCount.objects.exists()


def test_hourly_series_aggregate_rows_and_lag_by_hour(tmp_path):
    now = timezone.now()
    a = import_events(orders_at([now - timedelta(seconds=20)] * 3, run="h1"), tmp_path, "h1")
    b = import_events(orders_at([now - timedelta(seconds=20)] * 2, run="h2"), tmp_path, "h2")
    three_hours_ago = now - timedelta(hours=3)
    ImportFile.objects.filter(pk=b.import_file_id).update(finished_at=three_hours_ago)
    EventLagCount.objects.filter(import_file_id=b.import_file_id).update(committed_at=three_hours_ago)

    week = hourly_series(now)["orders"]
    assert len(week.hours) == 7 * 24 and week.hours[-1] <= now < week.hours[-1] + timedelta(hours=1)
    assert week.rows[-1] == a.counts["rows_created"] == 3
    assert week.rows[-4] == 2 and sum(week.rows) == 5
    assert week.files[-1] == 1 and week.files[-4] == 1
    p50 = week.lag_p50[-1]
    assert p50 is not None and 10 <= p50 <= 30 and week.lag_p50[-2] is None
    day = week.last(24)
    assert len(day.hours) == 24 and day.rows[-4] == 2
    assert sum(hourly_series(now)["customers"].rows) == 0


def test_worker_and_consumer_log_the_freshness(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="ingest.freshness")
    now = timezone.now()
    import_events(orders_at([now - timedelta(seconds=7)], run="log"), tmp_path, "log")
    worker_line = next(r.getMessage() for r in caplog.records if "after file" in r.getMessage())
    assert worker_line.startswith("freshness of orders after file")
    assert "newest event" in worker_line and "event-to-row lag p50" in worker_line
    [line] = log_freshness()
    assert line.startswith("freshness orders: newest event") and "S3-to-row lag" in line
