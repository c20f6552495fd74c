"""Staff only, and re-import only with its own permission: what the others get instead."""

from __future__ import annotations

import pytest
from django.contrib.admin.models import LogEntry
from django.urls import reverse

from ingest.models import ImportStatus
from tests.ingest.admin.factories import make_file

ADMIN_PAGES = [
    "admin:index",
    "admin:ingest_freshness",
    "admin:ingest_importfile_changelist",
    "admin:ingest_importlineerror_changelist",
    "admin:ingest_unreadablemessage_changelist",
    "admin:website_customer_changelist",
    "admin:website_order_changelist",
    "admin:website_orderline_changelist",
    "admin:website_invoice_changelist",
    "admin:website_invoiceline_changelist",
    "admin:website_shipment_changelist",
    "admin:website_shippingaddress_changelist",
    "admin:website_virtualrequest_changelist",
    "admin:website_estimate_changelist",
]


@pytest.fixture
def failed(db):
    return make_file(status=ImportStatus.FAILED, error_message="boom", finished_at=None)


@pytest.mark.parametrize("name", ADMIN_PAGES)
def test_anonymous_is_sent_to_the_login_page(client, db, name):
    url = reverse(name)
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))
    assert f"next={url}" in response["Location"]


def test_anonymous_cannot_see_or_reimport_a_file(client, failed):
    detail = reverse("admin:ingest_importfile_change", args=[failed.pk])
    reimport = reverse("admin:ingest_importfile_reimport", args=[failed.pk])
    for response in (client.get(detail), client.post(reimport)):
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("admin:login"))
    failed.refresh_from_db()
    assert failed.status == ImportStatus.FAILED


def test_an_active_user_who_is_not_staff_is_sent_to_the_login_page(client, django_user_model, failed):
    user = django_user_model.objects.create_user("customer", "c@example.com", "pw")
    client.force_login(user)
    response = client.get(reverse("admin:ingest_freshness"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_staff_without_view_permission_gets_no_dashboard(client, django_user_model, db):
    user = django_user_model.objects.create_user("nobody", "n@example.com", "pw", is_staff=True)
    client.force_login(user)
    assert client.get(reverse("admin:ingest_freshness")).status_code == 403
    assert client.get(reverse("admin:ingest_importfile_changelist")).status_code == 403
    assert "Freshness dashboard" not in client.get(reverse("admin:index")).content.decode()


def test_staff_without_reimport_permission_sees_no_action_and_no_button(viewer_client, failed):
    changelist = viewer_client.get(reverse("admin:ingest_importfile_changelist"))
    assert changelist.status_code == 200
    assert "reimport_selected" not in changelist.content.decode()
    assert changelist.context["action_form"] is None or "reimport_selected" not in str(
        changelist.context["action_form"]
    )
    detail = viewer_client.get(reverse("admin:ingest_importfile_change", args=[failed.pk]))
    assert detail.status_code == 200
    assert "ingest-reimport-button" not in detail.content.decode()


def test_staff_without_reimport_permission_cannot_post_a_reimport(viewer_client, failed, sync_reimport):
    response = viewer_client.post(
        reverse("admin:ingest_importfile_changelist"),
        {"action": "reimport_selected", "_selected_action": [failed.pk], "index": 0},
    )
    # The action is unknown to this user: nothing selected runs.
    assert response.status_code in (200, 302)
    assert viewer_client.post(reverse("admin:ingest_importfile_reimport", args=[failed.pk])).status_code == 403
    failed.refresh_from_db()
    assert failed.status == ImportStatus.FAILED
    assert failed.attempts_count == 0
    assert not LogEntry.objects.exists()


def test_index_links_the_dashboard_for_those_who_may_see_it(viewer_client, admin_client):
    url = reverse("admin:ingest_freshness")
    assert url in viewer_client.get(reverse("admin:index")).content.decode()
    assert url in admin_client.get(reverse("admin:index")).content.decode()
