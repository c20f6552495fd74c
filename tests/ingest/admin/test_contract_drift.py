"""The contract drift page and the unknown fields on a row's admin page."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from ingest.models import ErrorOutputFile, FailedRecord, FailedRecordStatus
from ingest.models.contract_drift import UnknownField
from ingest.services.observing.contract_drift import rejected_groups, split_reason
from website.models import Customer, Order

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


def _rejected(error_file, n: int, reason: str, at: datetime, status=FailedRecordStatus.REJECTED, stream="order-lines"):
    return FailedRecord.objects.create(
        error_file=error_file,
        line_number=n,
        stream=stream,
        arrival_at=at,
        reason=reason,
        raw_data=base64.b64encode(b"{}").decode(),
        status=status,
        redriven_in=None if status == FailedRecordStatus.REJECTED else _file(),
    )


def _file():
    from tests.ingest.admin.factories import make_file

    return make_file()


def test_split_reason_groups_a_type_change_and_keeps_an_enum_value():
    assert split_reason("data.quantity: must be an integer, got the number 2.5") == (
        "data.quantity",
        "must be an integer, got a number",
    )
    assert split_reason("data.quantity: must be an integer, got the string '3'") == (
        "data.quantity",
        "must be an integer, got a string",
    )
    field, reason = split_reason("data.status: must be one of OPEN, CLOSED; got the string 'ON_HOLD'")
    assert field == "data.status" and reason.endswith("'ON_HOLD'")
    assert split_reason("Lambda.ProcessingFailed: boom") == ("Lambda.ProcessingFailed", "boom")
    assert split_reason("body is not JSON: x") == ("", "body is not JSON: x")


def test_rejected_groups_one_line_per_field_and_reason():
    ef = ErrorOutputFile.objects.create(bucket="b", key="errors/order-lines/x", stream="order-lines")
    _rejected(ef, 1, "data.quantity: must be an integer, got the number 2.5", T0)
    _rejected(ef, 2, "data.quantity: must be an integer, got the number 7.25", T0 + timedelta(hours=2))
    _rejected(ef, 3, "data.quantity: must be an integer, got the number 2.5", T0 + timedelta(hours=1))
    _rejected(ef, 4, "data.status: must be one of A; got the string 'ON_HOLD'", T0)
    _rejected(ef, 5, "data.quantity: must be an integer, got the number 1.5", T0, status=FailedRecordStatus.REDRIVEN)
    _rejected(ef, 6, "data.quantity: must be an integer, got the number 1.5", T0, stream="orders")
    groups = rejected_groups("order-lines")
    assert [(g.field, g.reason, g.count, g.first_seen, g.last_seen) for g in groups] == [
        ("data.quantity", "must be an integer, got a number", 3, T0, T0 + timedelta(hours=2)),
        ("data.status", "must be one of A; got the string 'ON_HOLD'", 1, T0, T0),
    ]


def test_drift_page_lists_the_streams_fields_and_rejections(admin_client):
    now = timezone.now()
    UnknownField.objects.create(
        stream="orders",
        path="discountCode",
        json_types=["integer", "string"],
        events=12,
        first_seen=now - timedelta(days=1),
        last_seen=now,
        sample="<b>SPRING10</b>",
    )
    UnknownField.objects.create(
        stream="orders",
        scope="envelope",
        path="source",
        json_types=["string"],
        events=3,
        first_seen=now,
        last_seen=now,
        sample="s2",
    )
    UnknownField.objects.create(
        stream="customers", path="segment", json_types=["object"], events=1, first_seen=now, last_seen=now, sample={}
    )
    ef = ErrorOutputFile.objects.create(bucket="b", key="errors/orders/x", stream="orders")
    _rejected(ef, 1, "data.status: must be one of OPEN; got the string 'ON_HOLD'", T0, stream="orders")
    _rejected(ef, 2, "data.status: must be one of OPEN; got the string 'ON_HOLD'", T0, stream="orders")
    url = reverse("admin:ingest_unknownfield_changelist")
    page = admin_client.get(url, {"stream": "orders"})
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-path="discountCode"' in html and 'data-path="@source"' in html
    assert "integer, string" in html and "segment" not in html.split('id="drift-fields"')[1]
    assert "&lt;b&gt;SPRING10&lt;/b&gt;" in html and "<b>SPRING10" not in html  # escaped
    rejected = html.split('id="drift-rejected"')[1]
    assert "data.status" in rejected and "ON_HOLD" in rejected and ">2<" in rejected
    assert "orders (2)" in html and "customers (1)" in html
    empty = admin_client.get(url, {"stream": "shipments"}).content.decode()
    assert 'id="drift-fields-none"' in empty and 'id="drift-rejected-none"' in empty
    assert admin_client.get(reverse("admin:index")).content.decode().count(url) >= 1


def test_drift_page_needs_its_view_permission(viewer_client):
    assert viewer_client.get(reverse("admin:ingest_unknownfield_changelist")).status_code == 403


def test_row_page_shows_its_unknown_fields(admin_client):
    Customer.objects.create(customer_number="C-1")
    row = Order.objects.create(
        order_number="SO-1", customer_id="C-1", source_extras={"discountCode": "<i>X</i>", "n": 1}
    )
    html = admin_client.get(reverse("admin:website_order_change", args=[row.pk])).content.decode()
    assert "Unknown fields (source_extras)" in html
    assert json.dumps({"discountCode": "&lt;i&gt;X&lt;/i&gt;"})[1:-1].replace('"', "&quot;") in html
    bare = Order.objects.create(order_number="SO-2")
    html = admin_client.get(reverse("admin:website_order_change", args=[bare.pk])).content.decode()
    assert "Unknown fields (source_extras)" in html


def test_a_files_page_shows_its_envelope_extras(admin_client):
    from ingest.models.contract_drift import EnvelopeExtras
    from tests.ingest.admin.factories import make_file

    f = make_file()
    EnvelopeExtras.objects.create(
        import_file=f,
        first_line=3,
        last_line=3,
        events=1,
        extras=[{"line": 3, "eventId": "e-1", "extras": {"source": "<s2-prod>"}}],
    )
    html = admin_client.get(reverse("admin:ingest_importfile_change", args=[f.pk])).content.decode()
    assert "unknown envelope members" in html.lower()
    assert "&lt;s2-prod&gt;" in html and "<s2-prod>" not in html
