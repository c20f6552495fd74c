"""The admin never loads a line error's raw text whole: only the excerpt it shows."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from ingest.admin import RAW_LINE_DISPLAY_CHARS
from ingest.models import ImportLineError, ImportStatus
from tests.ingest.admin.factories import make_file

pytestmark = pytest.mark.django_db

HUGE = 5_000_000
# raw_text inside SUBSTR(...) / SUBSTRING(...) is an excerpt; anywhere else, the whole value.
_EXCERPT_RE = re.compile(r"SUBSTR(?:ING)?\(\s*\"ingest_importlineerror\"\.\"raw_text\"", re.IGNORECASE)


@pytest.fixture
def huge_error():
    f = make_file(status=ImportStatus.IMPORTED_WITH_ERRORS, errors_count=1)
    return ImportLineError.objects.create(import_file=f, line_number=1, raw_text="Z" * HUGE, message="too long")


def whole_raw_text_selects(queries: list[dict]) -> list[str]:
    return [q["sql"] for q in queries if "raw_text" in _EXCERPT_RE.sub("", q["sql"])]


@pytest.mark.parametrize("page", ["file", "list", "detail"])
def test_pages_select_an_excerpt_of_the_raw_text_only(admin_client, huge_error, page):
    url = {
        "file": reverse("admin:ingest_importfile_change", args=[huge_error.import_file_id]),
        "list": reverse("admin:ingest_importlineerror_changelist"),
        "detail": reverse("admin:ingest_importlineerror_change", args=[huge_error.pk]),
    }[page]
    with CaptureQueriesContext(connection) as ctx:
        response = admin_client.get(url)
    assert response.status_code == 200
    assert any("ingest_importlineerror" in q["sql"] for q in ctx.captured_queries)
    assert whole_raw_text_selects(ctx.captured_queries) == []
    html = response.content.decode()
    shown = 200 if page == "list" else RAW_LINE_DISPLAY_CHARS
    assert "Z" * (shown - 1) in html and "Z" * (shown + 1) not in html
    assert len(html) < HUGE // 10


def test_a_text_that_fits_is_shown_whole_without_a_cut_note(admin_client):
    f = make_file(status=ImportStatus.IMPORTED_WITH_ERRORS, errors_count=1)
    error = ImportLineError.objects.create(import_file=f, line_number=3, raw_text="fits", message="bad")
    html = admin_client.get(reverse("admin:ingest_importlineerror_change", args=[error.pk])).content.decode()
    assert '<pre class="ingest-raw-line">fits</pre>' in html and "cut here" not in html


def test_an_unknown_id_is_not_found(admin_client):
    url = reverse("admin:ingest_importlineerror_change", args=[987654])
    assert admin_client.get(url).status_code in {302, 404}
