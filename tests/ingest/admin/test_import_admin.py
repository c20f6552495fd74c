"""The ImportFile admin: list, filters, search, the read-only detail page with its timeline,
attempts and escaped line errors, and re-import (action and button) with its LogEntry."""

from __future__ import annotations

import os

import pytest
import redis
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.test import Client
from django.urls import reverse

from ingest.admin import INLINE_LINE_ERRORS
from ingest.models import ImportAttempt, ImportFile, ImportStatus
from ingest.testing.utilities import found
from tests.ingest.admin.factories import (
    HOSTILE_LINE,
    add_line_errors,
    failed_file,
    imported_file,
    make_file,
    write_orders_file,
)

CHANGELIST = reverse("admin:ingest_importfile_changelist")
# Its own Redis database; another suite beside this one sets another.
ADMIN_REDIS_URL = os.environ.get("ADMIN_REDIS_URL", "redis://127.0.0.1:6379/4")


def change_url(f: ImportFile) -> str:
    return reverse("admin:ingest_importfile_change", args=[f.pk])


def reimport_url(f: ImportFile) -> str:
    return reverse("admin:ingest_importfile_reimport", args=[f.pk])


def listed_ids(response) -> set[int]:
    return {obj.pk for obj in response.context["cl"].result_list}


@pytest.fixture
def files(db):
    return {
        "ok": make_file(status=ImportStatus.IMPORTED, lines_total=10, rows_created=7, rows_updated=3, lag_seconds=4.2),
        "errors": make_file(
            status=ImportStatus.IMPORTED_WITH_ERRORS,
            errors_count=2,
            stream="customers",
            key="customers/2026/11/27/11/prod-customers-1-x",
        ),
        "failed": make_file(status=ImportStatus.FAILED, error_message="SourceMissing: gone", finished_at=None),
        "pending": make_file(status=ImportStatus.PENDING, finished_at=None),
    }


def test_changelist_shows_status_badges_counts_and_lag(admin_client, files):
    response = admin_client.get(CHANGELIST)
    assert response.status_code == 200
    html = response.content.decode()
    assert '<span class="ingest-badge ingest-badge--ok">imported</span>' in html
    assert '<span class="ingest-badge ingest-badge--error">failed</span>' in html
    assert '<span class="ingest-badge ingest-badge--warn">imported with errors</span>' in html
    assert "4.2 s" in html
    assert listed_ids(response) == {f.pk for f in files.values()}
    assert "Freshness dashboard" in html


def test_changelist_filters_by_status_stream_and_date(admin_client, files):
    assert listed_ids(admin_client.get(CHANGELIST, {"status__exact": "failed"})) == {files["failed"].pk}
    assert listed_ids(admin_client.get(CHANGELIST, {"stream__exact": "customers"})) == {files["errors"].pk}
    day = files["ok"].created_at
    response = admin_client.get(
        CHANGELIST, {"created_at__year": day.year, "created_at__month": day.month, "created_at__day": day.day}
    )
    assert listed_ids(response) == {f.pk for f in files.values()}


@pytest.mark.parametrize("zone", ["UTC", "America/New_York"])
def test_date_hierarchy_probes_find_the_same_periods_as_django(db, zone):
    from datetime import datetime

    from django.utils import timezone

    from ingest.admin.helpers import SparseDatesQuerySet

    moments = ["2025-12-31T23:30", "2026-01-01T03:00", "2026-01-15T12:00", "2026-03-01T00:10", "2026-03-02T04:59"]
    for moment in moments:
        f = make_file()
        ImportFile.objects.filter(pk=f.pk).update(created_at=datetime.fromisoformat(moment + "+00:00"))
    with timezone.override(zone):
        for kind in ("year", "month", "day"):
            for qs in (ImportFile.objects.all(), ImportFile.objects.filter(created_at__year=2026)):
                sparse: SparseDatesQuerySet = SparseDatesQuerySet(model=ImportFile, query=qs.query.chain())
                expected = list(qs.datetimes("created_at", kind))
                assert list(sparse.datetimes("created_at", kind)) == expected, (kind, zone)
        january = ImportFile.objects.filter(created_at__year=2026, created_at__month=1)
        probed = SparseDatesQuerySet(model=ImportFile, query=january.query.chain()).datetimes("created_at", "day")
        assert isinstance(probed, list)  # probed, not the fallback for more than 40 periods
        assert probed == list(january.datetimes("created_at", "day"))
        assert SparseDatesQuerySet(model=ImportFile).filter(pk=0).datetimes("created_at", "day") == []


def test_search_by_key_prefix_uri_and_id(admin_client, files):
    assert listed_ids(admin_client.get(CHANGELIST, {"q": "customers/2026/11/27"})) == {files["errors"].pk}
    uri = f"s3://erp-ingest-test/{files['ok'].key}"
    assert listed_ids(admin_client.get(CHANGELIST, {"q": uri})) == {files["ok"].pk}
    assert listed_ids(admin_client.get(CHANGELIST, {"q": str(files["pending"].pk)})) == {files["pending"].pk}
    # A prefix search, not a substring one: the middle of a key finds nothing.
    assert listed_ids(admin_client.get(CHANGELIST, {"q": "2026/11/27"})) == set()


def test_detail_shows_timeline_attempts_and_escaped_line_errors(admin_client, tmp_path):
    f = imported_file(write_orders_file(tmp_path, "with-bad-line"))
    assert f.status == ImportStatus.IMPORTED_WITH_ERRORS
    response = admin_client.get(change_url(f))
    assert response.status_code == 200
    html = response.content.decode()
    # Read-only for everyone, superusers included: no save buttons.
    assert 'name="_save"' not in html
    assert "ingest-timeline" in html and "received" in html and "finished" in html
    assert "import took" in html
    attempt = ImportAttempt.objects.get(import_file=f)
    assert attempt.trigger == "command"
    assert "ingest-badge--warn" in html
    error = f.line_errors.get()
    assert f">{error.line_number}<" in html or f"{error.line_number}</" in html
    assert error.message.replace('"', "&quot;").replace("'", "&#x27;")[:40] in html or error.message[:20] in html
    # The raw line is shown as text inside <pre>, never as markup.
    assert HOSTILE_LINE not in html
    assert "&lt;script&gt;alert(&quot;xss&quot;)&lt;/script&gt; &amp; &lt;b&gt;not a record&lt;/b&gt;" in html
    assert '<pre class="ingest-raw-line">&lt;script&gt;' in html


def test_detail_lists_at_most_the_first_line_errors_with_a_link_to_all(admin_client):
    f = make_file(status=ImportStatus.IMPORTED_WITH_ERRORS, errors_count=INLINE_LINE_ERRORS + 50)
    add_line_errors(f, INLINE_LINE_ERRORS + 50)
    html = admin_client.get(change_url(f)).content.decode()
    assert html.count('<pre class="ingest-raw-line">bad line ') == INLINE_LINE_ERRORS
    assert "bad line 1<" in html and f"bad line {INLINE_LINE_ERRORS}<" in html
    assert f"bad line {INLINE_LINE_ERRORS + 1}<" not in html
    all_url = reverse("admin:ingest_importlineerror_changelist") + f"?import_file={f.pk}"
    assert all_url.replace("&", "&amp;") in html
    response = admin_client.get(all_url)
    assert response.status_code == 200
    assert response.context["cl"].result_count == INLINE_LINE_ERRORS + 50


def test_detail_is_read_only_even_for_a_superuser(admin_client, files):
    f = files["ok"]
    assert admin_client.post(change_url(f), {"status": "failed"}).status_code == 403
    assert admin_client.get(reverse("admin:ingest_importfile_add")).status_code == 403
    assert admin_client.post(reverse("admin:ingest_importfile_delete", args=[f.pk]), {"post": "yes"}).status_code == 403
    f.refresh_from_db()
    assert f.status == ImportStatus.IMPORTED


def test_reimport_action_imports_again_reports_and_logs(operator_client, operator, tmp_path, sync_reimport):
    f, _ = failed_file(tmp_path)
    response = operator_client.post(
        CHANGELIST, {"action": "reimport_selected", "_selected_action": [f.pk], "index": 0}, follow=True
    )
    assert response.status_code == 200
    f.refresh_from_db()
    assert f.status == ImportStatus.IMPORTED_WITH_ERRORS
    assert f.attempts_count == 2
    assert list(f.attempts.values_list("trigger", "status")) == [
        ("command", ImportStatus.FAILED),
        ("reimport", ImportStatus.IMPORTED_WITH_ERRORS),
    ]
    text = " ".join(str(m) for m in response.context["messages"])
    assert "1 selected" in text and "1 imported" in text
    entry = LogEntry.objects.get(object_id=str(f.pk))
    assert entry.user == operator
    assert entry.action_flag == CHANGE
    assert entry.content_type == ContentType.objects.get_for_model(ImportFile)
    assert "imported_with_errors" in entry.get_change_message()


def test_reimport_button_on_the_detail_page(operator_client, tmp_path, sync_reimport):
    f, _ = failed_file(tmp_path)
    html = operator_client.get(change_url(f)).content.decode()
    assert 'id="ingest-reimport-button"' in html
    assert f'action="{reimport_url(f)}"' in html
    response = operator_client.post(reimport_url(f))
    assert response.status_code == 302
    assert response["Location"] == change_url(f)
    f.refresh_from_db()
    assert f.status == ImportStatus.IMPORTED_WITH_ERRORS
    assert LogEntry.objects.filter(object_id=str(f.pk), action_flag=CHANGE).count() == 1
    assert operator_client.get(reimport_url(f)).status_code == 405


def test_reimport_button_needs_the_csrf_token(operator, tmp_path, sync_reimport):
    f, _ = failed_file(tmp_path)
    client = Client(enforce_csrf_checks=True)
    client.force_login(operator)
    assert client.post(reimport_url(f)).status_code == 403
    page = client.get(change_url(f)).content.decode()
    token = found(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    assert client.post(reimport_url(f), {"csrfmiddlewaretoken": token}).status_code == 302
    f.refresh_from_db()
    assert f.status == ImportStatus.IMPORTED_WITH_ERRORS


@pytest.fixture
def admin_broker(monkeypatch):
    """Celery publishing to this suite's own Redis database (ADMIN_REDIS_URL), emptied before and after."""
    from website.celery import app

    connection = redis.Redis.from_url(ADMIN_REDIS_URL, socket_timeout=5)
    connection.flushdb()
    # Celery reads CELERY_BROKER_WRITE_URL whenever it opens a connection for publishing; its
    # producer pool is cached per app, so start from none and drop ours afterwards.
    monkeypatch.setenv("CELERY_BROKER_WRITE_URL", ADMIN_REDIS_URL)
    old_pool = app.amqp._producer_pool
    app.amqp._producer_pool = None
    try:
        yield connection
    finally:
        if app.amqp._producer_pool is not None:
            app.amqp._producer_pool.force_close_all()
        app.amqp._producer_pool = old_pool
        connection.flushdb()
        connection.close()


def test_reimport_action_enqueues_a_task_by_default(operator_client, files, admin_broker):
    f = files["failed"]
    response = operator_client.post(
        CHANGELIST, {"action": "reimport_selected", "_selected_action": [f.pk], "index": 0}, follow=True
    )
    assert response.status_code == 200
    f.refresh_from_db()
    assert f.status == ImportStatus.PENDING
    assert f.enqueued_at is not None
    assert admin_broker.llen("celery") == 1
    text = " ".join(str(m) for m in response.context["messages"])
    assert "1 enqueued" in text
    assert "enqueued" in LogEntry.objects.get(object_id=str(f.pk)).get_change_message()


def test_rejected_message_body_is_shown_as_text(admin_client):
    from django.utils import timezone

    from ingest.models import UnreadableMessage

    message = UnreadableMessage.objects.create(
        queue_url="https://sqs/q",
        message_id="m-1",
        body='{"x": "<img src=x onerror=alert(1)>"}',
        error="not an S3 event <b>",
        received_at=timezone.now(),
    )
    html = admin_client.get(reverse("admin:ingest_unreadablemessage_change", args=[message.pk])).content.decode()
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<img src=x" not in html
    assert "not an S3 event &lt;b&gt;" in html
    listing = admin_client.get(reverse("admin:ingest_unreadablemessage_changelist")).content.decode()
    assert "not an S3 event &lt;b&gt;" in listing
