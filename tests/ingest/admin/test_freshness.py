"""The freshness service and dashboard: per stream the last import and its age, the last hour and
day, lag percentiles, backlog, and the stale flag; in a few queries however many files there are."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from ingest.models import ImportFile, ImportStatus
from ingest.services.observing.freshness import stream_freshness
from ingest.services.observing.percentiles import percentile
from tests.ingest.admin.factories import make_file, make_files
from transforms.streams import STREAM_NAMES


@pytest.fixture
def now():
    return timezone.now()


@pytest.fixture
def history(db, now, settings):
    settings.INGEST_STALE_AFTER_SECONDS = 3600

    def done(minutes_ago: float, lag: float, stream: str = "orders", **fields) -> ImportFile:
        return make_file(
            stream=stream,
            finished_at=now - timedelta(minutes=minutes_ago),
            lag_seconds=lag,
            lines_total=fields.pop("lines_total", 10),
            rows_created=fields.pop("rows_created", 4),
            rows_updated=fields.pop("rows_updated", 3),
            rows_deleted=fields.pop("rows_deleted", 1),
            **fields,
        )

    files: dict[str, Any] = {
        "last": done(10, 1.0),
        "hour2": done(30, 2.0),
        "hour3": done(50, 3.0, status=ImportStatus.IMPORTED_WITH_ERRORS, errors_count=5, lines_total=100),
        "day1": done(5 * 60, 10.0),
        "day2": done(20 * 60, 20.0),
        "old": done(3 * 24 * 60, 999.0),
        "failed": make_file(stream="orders", status=ImportStatus.FAILED, finished_at=now - timedelta(minutes=40)),
        "customers": done(3 * 60, 7.0, stream="customers"),
    }
    pending = [make_file(stream="orders", status=ImportStatus.PENDING, finished_at=None) for _ in range(2)]
    ImportFile.objects.filter(pk=pending[0].pk).update(created_at=now - timedelta(minutes=25))
    files["pending"] = pending
    return files


def by_stream(now):
    return {f.stream: f for f in stream_freshness(now)}


def test_fresh_stream_figures(history, now):
    orders = by_stream(now)["orders"]
    assert orders.last_import.id == history["last"].pk
    assert orders.age_seconds == pytest.approx(600, abs=1)
    assert not orders.stale
    assert orders.files_hour == 3
    assert orders.files_day == 5
    assert orders.rows_hour == 3 * 8
    assert orders.rows_day == 5 * 8
    assert orders.lines_day == 4 * 10 + 100
    assert orders.line_errors_day == 5
    assert orders.error_rate == pytest.approx(5 / 140)
    assert orders.files_with_errors_day == 1
    assert orders.failed_day == 1
    assert orders.file_error_rate == pytest.approx(2 / 6)
    lags = [1.0, 2.0, 3.0, 10.0, 20.0]
    assert orders.lag_p50_seconds == pytest.approx(percentile(lags, 50))
    assert orders.lag_p95_seconds == pytest.approx(percentile(lags, 95))
    assert orders.pending == 2
    assert orders.failed == 1
    assert orders.oldest_pending_at == ImportFile.objects.get(pk=history["pending"][0].pk).created_at


def test_a_stream_without_a_recent_import_is_stale(history, now):
    streams = by_stream(now)
    customers = streams["customers"]
    assert customers.stale
    assert customers.age_seconds == pytest.approx(3 * 3600, abs=1)
    assert customers.files_hour == 0 and customers.files_day == 1
    never = streams["invoices"]
    assert never.stale and never.last_import is None and never.age_seconds is None
    assert never.lag_p50_seconds is None and never.error_rate is None
    assert [f.stream for f in stream_freshness(now)] == list(STREAM_NAMES)


def test_the_threshold_comes_from_settings(history, now, settings):
    settings.INGEST_STALE_AFTER_SECONDS = 4 * 3600
    assert not by_stream(now)["customers"].stale


def test_a_few_queries_however_many_files(db, now):
    make_files(5, stream="orders")
    with CaptureQueriesContext(connection) as few:
        stream_freshness(now)
    make_files(300, stream="orders")
    make_files(300, stream="shipments", status=ImportStatus.FAILED)
    with CaptureQueriesContext(connection) as many:
        result = stream_freshness(now)
    # Four over ImportFile, two over the ERP-clock tables, two for what pruning left (ledger, aggregates).
    assert len(many) == len(few) <= 8
    assert {f.stream: f.files_day for f in result}["orders"] == 305


def test_dashboard_page(admin_client, history):
    response = admin_client.get(reverse("admin:ingest_freshness"))
    assert response.status_code == 200
    html = response.content.decode()
    for stream in STREAM_NAMES:
        assert f'data-stream="{stream}"' in html
    assert 'class="ingest-badge ingest-badge--stale">stale<' in html
    assert 'class="ingest-badge ingest-badge--fresh">fresh<' in html
    assert reverse("admin:ingest_importfile_change", args=[history["last"].pk]) in html
    assert "stream__exact=orders&amp;status__exact=failed" in html
    assert "10 min" in html
