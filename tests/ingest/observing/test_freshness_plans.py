"""At millions of files the dashboard's backlog and a deep page of the imports list read an index
alone (PostgreSQL): the backlog's filter matches the partial index's condition, and the deep page's
ids come from the list's index. Seq scans are turned off so that the plan on a small table shows
which index the query *can* use; the test fails when a change makes the index unusable."""

from __future__ import annotations

import pytest
from django.db import connection

from ingest.admin.helpers import EstimatedCountPaginator
from ingest.models import ImportFile, ImportStatus
from ingest.services.observing import freshness
from tests.ingest.admin.factories import make_files

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def _plan(sql: str, params) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        return "\n".join(row[0] for row in cursor.fetchall())


@pytest.fixture
def files():
    make_files(20)
    make_files(3, status=ImportStatus.FAILED)
    make_files(2, status=ImportStatus.PENDING, stream="invoices")


def test_the_backlog_is_an_index_only_scan_of_the_partial_index(files):
    backlog = freshness._backlog()
    assert backlog["orders"]["failed"] == 3 and backlog["invoices"]["pending"] == 2
    sql, params = freshness.backlog_query().query.sql_with_params()
    assert "Index Only Scan using ingest_file_backlog" in _plan(sql, params)


def test_a_deep_pages_ids_come_from_the_lists_index_alone(files):
    qs = ImportFile.objects.order_by("-created_at", "-id")
    sql, params = qs.values("pk")[10:20].query.sql_with_params()
    assert "Index Only Scan using ingest_file_created_id" in _plan(sql, params)
    page = EstimatedCountPaginator(qs, 10).page(2)
    assert [f.pk for f in page.object_list] == list(qs.values_list("pk", flat=True)[10:20])
