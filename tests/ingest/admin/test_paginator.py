"""The changelists' paginator: a deep page on PostgreSQL is a deferred join (the page's ids, then
those rows) and shows exactly the rows a plain OFFSET would, in the same order."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from ingest.admin import helpers
from ingest.admin.helpers import EstimatedCountPaginator
from ingest.models import ImportFile
from tests.ingest.admin.factories import make_files

pytestmark = pytest.mark.django_db


@pytest.fixture
def files():
    made = make_files(130) + make_files(40, stream="invoices")
    # Ties on created_at (the bulk) and distinct times, so that the tie-break on id matters too.
    now = timezone.now()
    for n, f in enumerate(made[::3]):
        ImportFile.objects.filter(pk=f.pk).update(created_at=now - timedelta(minutes=n % 7))
    return made


@pytest.mark.parametrize("ordering", [("-created_at", "-id"), ("created_at", "id"), ("stream", "-id")])
def test_every_page_holds_the_rows_of_a_plain_offset(files, monkeypatch, ordering):
    monkeypatch.setattr(helpers, "DEFERRED_JOIN_OFFSET", 20)
    qs = ImportFile.objects.order_by(*ordering)
    expected = list(qs.values_list("pk", flat=True))
    paginator = EstimatedCountPaginator(qs, 25, orphans=5)
    seen = []
    for number in paginator.page_range:
        with CaptureQueriesContext(connection) as queries:
            page = list(paginator.page(number).object_list.values_list("pk", flat=True))
        deferred = (number - 1) * 25 >= 20 and connection.vendor == "postgresql"
        assert ("IN (SELECT" in queries.captured_queries[-1]["sql"]) is deferred, number
        seen += page
    assert seen == expected


def test_the_admins_deep_page_shows_the_same_files(admin_client, files, monkeypatch):
    url = reverse("admin:ingest_importfile_changelist")
    shown = {}
    for offset in (50, 10**9):
        monkeypatch.setattr(helpers, "DEFERRED_JOIN_OFFSET", offset)
        response = admin_client.get(url, {"p": 2})
        assert response.status_code == 200
        shown[offset] = [f.pk for f in response.context["cl"].result_list]
    assert len(shown[10**9]) == 70  # 170 files, 100 a page
    assert shown[50] == shown[10**9]
