"""No query per row: every changelist (and the dashboard, and a file's page) makes as many
queries for 50 rows as for 1. A query per row that creeps back fails here."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from ingest.models import ImportAttempt, ImportStatus, UnreadableMessage
from tests.ingest.admin.factories import add_line_errors, make_file, make_files, make_website_rows
from website.models import MODELS_BY_STREAM

PAGES = [
    ("admin:ingest_importfile_changelist", {}),
    ("admin:ingest_importfile_changelist", {"status__exact": "imported"}),
    ("admin:ingest_importfile_changelist", {"q": "orders/2026"}),
    ("admin:ingest_importfile_changelist", {"stream__exact": "orders", "o": "-1"}),
    ("admin:ingest_importlineerror_changelist", {}),
    ("admin:ingest_unreadablemessage_changelist", {}),
    ("admin:ingest_freshness", {}),
    *[(f"admin:website_{m._meta.model_name}_changelist", {}) for m in MODELS_BY_STREAM.values()],
    ("admin:website_order_changelist", {"is_deleted__exact": "0", "status__exact": "OPEN"}),
    ("admin:website_orderline_changelist", {"q": "SO-0"}),
]


def add_rows(n: int, start: int) -> None:
    files = make_files(n, stream="orders")
    assert files[0].finished_at is not None
    add_line_errors(files[0], n)
    UnreadableMessage.objects.bulk_create(
        UnreadableMessage(
            queue_url="q", message_id=f"m-{start + i}", body="{}", error="bad", received_at=files[0].finished_at
        )
        for i in range(n)
    )
    make_website_rows(n, last_import=files[-1], start=start)


def count_queries(client, name: str, params: dict) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse(name), params)
    assert response.status_code == 200, response
    return len(queries)


@pytest.mark.parametrize(("name", "params"), PAGES, ids=lambda v: str(v) if isinstance(v, dict) else v)
def test_queries_do_not_grow_with_rows(admin_client, db, name, params):
    add_rows(1, start=0)
    one = count_queries(admin_client, name, params)
    add_rows(49, start=1)
    fifty = count_queries(admin_client, name, params)
    assert fifty == one
    assert one <= 14  # the dashboard: 3 read what pruning left (ledger, aggregates), 1 the last reconciliation


def test_a_files_page_does_not_grow_with_its_attempts_and_line_errors(admin_client, db):
    def page_queries(f) -> int:
        with CaptureQueriesContext(connection) as queries:
            response = admin_client.get(reverse("admin:ingest_importfile_change", args=[f.pk]))
        assert response.status_code == 200
        return len(queries)

    small = make_file(status=ImportStatus.IMPORTED_WITH_ERRORS, errors_count=1, attempts_count=1)
    add_line_errors(small, 1)
    assert small.finished_at is not None
    ImportAttempt.objects.create(import_file=small, number=1, status="imported", started_at=small.finished_at)
    big = make_file(status=ImportStatus.IMPORTED_WITH_ERRORS, errors_count=50, attempts_count=5)
    add_line_errors(big, 50)
    assert big.finished_at is not None
    for number in range(1, 6):
        ImportAttempt.objects.create(import_file=big, number=number, status="imported", started_at=big.finished_at)
    page_queries(small)  # the first page of a session loads what later pages find cached
    assert page_queries(big) == page_queries(small)


@pytest.mark.parametrize("name", ["admin:ingest_importfile_changelist", "admin:website_orderline_changelist"])
def test_no_facet_counts_on_big_tables(admin_client, db, name):
    add_rows(3, start=0)
    plain = count_queries(admin_client, name, {})
    assert count_queries(admin_client, name, {"_facets": "True"}) == plain
    assert "Show counts" not in admin_client.get(reverse(name)).content.decode()
