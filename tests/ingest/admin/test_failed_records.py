"""The operators' admin: the dashboard's ERP-clock columns and hourly SVG charts (a constant number
of queries), the failed records list with its raw events, and the permissioned redrive action."""

from __future__ import annotations

import base64
import json
import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from ingest.models import (
    ChangeNotification,
    ErrorOutputFile,
    EventLagCount,
    FailedRecord,
    FailedRecordStatus,
    ImportFile,
)
from ingest.testing.aws import new_bucket
from ingest.testing.imports import import_events
from ingest.testing.samples import invalid_order, orders_at
from ingest.testing.utilities import found
from tests.ingest.admin.factories import make_file
from transforms.streams import STREAM_NAMES

HOSTILE = '<script>alert("x")</script>'


def _staff(django_user_model, username: str, codenames: list[str]):
    user = django_user_model.objects.create_user(username, f"{username}@example.com", "pw", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="ingest", codename__in=codenames))
    return user


def rejected(n: int, *, body: dict | bytes, stream: str = "orders", error_file: ErrorOutputFile | None = None):
    error_file = error_file or ErrorOutputFile.objects.create(
        bucket="b", key=f"errors/{stream}/processing-failed/2026/11/27/10/f-{n}", stream=stream
    )
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return FailedRecord.objects.create(
        error_file=error_file,
        line_number=n,
        stream=stream,
        arrival_at=timezone.now() - timedelta(minutes=n),
        error_code="Lambda.ProcessingFailed",
        reason="Lambda.ProcessingFailed: version is missing",
        raw_data=base64.b64encode(raw).decode(),
        lambda_arn="arn:aws:lambda:us-east-1:000000000000:function:t",
    )


@pytest.mark.django_db(transaction=True)
def test_the_dashboard_shows_the_erp_clock_and_charts(admin_client, tmp_path):
    now = timezone.now()
    import_events(orders_at([now - timedelta(seconds=30)] * 5, run="d"), tmp_path, "d")
    response = admin_client.get(reverse("admin:ingest_freshness"))
    html = response.content.decode()
    assert response.status_code == 200
    row = found(r'<tr class="[^"]*" data-stream="orders">(.*?)</tr>', html, re.S).group(1)
    assert re.search(r'class="num ingest-event-age">\d+ s</td>', row)
    assert "Event lag 1 h" in html and "Event lag 24 h" in html
    charts = found(r'<table id="ingest-charts".*?</table>', html, re.S).group(0)
    assert charts.count("<svg ") == 4 * len(STREAM_NAMES)
    orders = found(r'<tr data-stream="orders">(.*?)</tr>', charts, re.S).group(1)
    assert orders.count('class="bar"') == 2  # one hour with rows, in the 24 h and the 7 day chart
    assert ": 5 rows</title>" in orders
    assert orders.count('class="dot p95"') == 2
    customers = found(r'<tr data-stream="customers">(.*?)</tr>', charts, re.S).group(1)
    assert "no rows" in customers and "no events" in customers
    assert "Failed records" in html


@pytest.mark.django_db
def test_the_dashboard_queries_do_not_grow_with_imports(admin_client):
    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert admin_client.get(reverse("admin:ingest_freshness")).status_code == 200
        return len(ctx.captured_queries)

    now = timezone.now()
    first = queries()
    for n in range(30):
        f = make_file(stream=STREAM_NAMES[n % 9], finished_at=now - timedelta(hours=n * 5), rows_created=n)
        assert f.finished_at is not None
        EventLagCount.objects.create(
            import_file=f, stream=f.stream, committed_at=f.finished_at, bucket=n % 10, count=n + 1
        )
    assert queries() == first


@pytest.mark.django_db
def test_rejected_records_are_listed_with_stream_reason_raw_event_and_time(admin_client):
    record = rejected(1, body={"eventId": "e-1", "stream": "orders", "note": HOSTILE})
    rejected(2, body=b"\xff\xfe not utf-8")
    html = admin_client.get(reverse("admin:ingest_failedrecord_changelist")).content.decode()
    assert "version is missing" in html and "orders" in html
    assert "&quot;eventId&quot;: &quot;e-1&quot;" in html
    assert HOSTILE not in html and "&lt;script&gt;" in html
    assert "\\xff\\xfe not utf-8" in html
    detail = admin_client.get(reverse("admin:ingest_failedrecord_change", args=[record.pk])).content.decode()
    assert "Raw event (as System Two sent it)" in detail and "&lt;script&gt;" in detail and HOSTILE not in detail


@pytest.mark.django_db
def test_only_the_permission_shows_the_redrive_action(client, django_user_model):
    rejected(1, body={"eventId": "e"})
    url = reverse("admin:ingest_failedrecord_changelist")
    client.force_login(_staff(django_user_model, "looker", ["view_failedrecord"]))
    assert "redrive_selected" not in client.get(url).content.decode()
    client.force_login(_staff(django_user_model, "redriver", ["view_failedrecord", "redrive_failedrecord"]))
    assert "redrive_selected" in client.get(url).content.decode()


@pytest.mark.django_db(transaction=True)
def test_the_admin_action_redrives_the_selection(client, django_user_model, aws, settings):
    from ingest.testing.aws import aws_clients
    from ingest.testing.samples import order_events

    settings.INGEST_BUCKET = new_bucket(aws_clients(aws)[0])
    settings.CELERY_TASK_ALWAYS_EAGER = True
    [good] = order_events(1, run="adm")
    passing = rejected(1, body=good)
    failing = rejected(2, body=invalid_order(9))
    untouched = rejected(3, body=good)
    url = reverse("admin:ingest_failedrecord_changelist")

    looker = _staff(django_user_model, "looker", ["view_failedrecord"])
    client.force_login(looker)
    client.post(url, {"action": "redrive_selected", "_selected_action": [passing.pk]})
    assert FailedRecord.objects.get(pk=passing.pk).status == FailedRecordStatus.REJECTED

    client.force_login(_staff(django_user_model, "redriver", ["view_failedrecord", "redrive_failedrecord"]))
    response = client.post(
        url, {"action": "redrive_selected", "_selected_action": [passing.pk, failing.pk]}, follow=True
    )
    text = response.content.decode()
    assert "1 record(s) pass" in text and "1 still fail" in text and "version" in text
    passing.refresh_from_db()
    failing.refresh_from_db()
    assert passing.status == FailedRecordStatus.REDRIVEN and passing.redriven_in is not None
    assert failing.status == FailedRecordStatus.REJECTED and "version" in failing.reason
    assert FailedRecord.objects.get(pk=untouched.pk).redrive_attempts == 0
    imported = ImportFile.objects.get(pk=passing.redriven_in_id)
    imported.refresh_from_db()
    assert imported.status == "imported" and imported.rows_created == 1


def test_lag_charts_end_on_readable_steps():
    from datetime import UTC, datetime

    from ingest.admin.charts import lag_chart

    hours = [datetime(2026, 11, 27, h, tzinfo=UTC) for h in range(3)]
    svg = str(lag_chart("t", hours, [2.0, None, 40.0], [5.0, None, 4000.0]))
    ticks = re.findall(r'<text class="tick"[^>]*text-anchor="end">([^<]+)</text>', svg)
    assert ticks[:2] == ["6 h", "1.0 s"]
    assert svg.count('class="dot p95"') == 2 and 'class="line' not in svg  # a gap splits the line
    huge = str(lag_chart("t", hours, [4e6, 5e6, 6e6], [4e6, 5e6, 7e6]))
    assert huge.count("<polyline") == 2


@pytest.mark.django_db(transaction=True)
def test_the_change_outbox_is_visible(admin_client, tmp_path):
    outcome = import_events(orders_at([timezone.now()], run="ob"), tmp_path, "ob")
    html = admin_client.get(reverse("admin:ingest_changenotification_changelist")).content.decode()
    assert f"import #{outcome.import_file_id}" in html and "orders" in html
    note = ChangeNotification.objects.get()
    detail = admin_client.get(reverse("admin:ingest_changenotification_change", args=[note.pk])).content.decode()
    assert "SO-ob0000000" in detail
