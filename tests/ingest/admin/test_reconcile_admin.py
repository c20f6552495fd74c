"""Reconciliation in the admin: runs, drift side by side, resend downloads, permissioned repairs,
the dashboard's table of open drift, and the Prometheus gauges."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from ingest.models.reconciliation import ReconciliationRun
from ingest.services.importing.run import import_file
from ingest.services.intake.registration import register_local_file
from ingest.services.observing import prometheus
from ingest.services.repair.reconcile import Requested, reconcile
from ingest.testing.samples import order_event, write_files
from ingest.testing.snapshots import full_line, header, write_snapshot
from ingest.testing.utilities import found
from website.models import Order

pytestmark = pytest.mark.django_db(transaction=True)

HOSTILE = '<script>alert("x")</script>'


@pytest.fixture
def run(tmp_path) -> ReconciliationRun:
    events = [order_event("SO-1", 1), order_event("SO-2", 2), order_event("SO-3", 1)]
    for path in write_files(events, tmp_path / "in"):
        f, _ = register_local_file(path)
        import_file(f.pk)
    lines = [
        full_line(order_event("SO-1", 2, total="20.00")),  # behind
        full_line(order_event("SO-2", 2, total="99.00")),  # differs
        full_line(order_event(HOSTILE, 1)),  # missing
    ]
    path = write_snapshot(tmp_path / "o.jsonl", header("orders", "2026-11-28T00:00:00Z"), lines)
    report = reconcile(str(path))
    assert report.run_id is not None
    return ReconciliationRun.objects.get(pk=report.run_id)


def staff(django_user_model, name: str, codenames: list[str]):
    user = django_user_model.objects.create_user(name, f"{name}@example.com", "pw", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="ingest", codename__in=codenames))
    return user


def test_runs_list_and_detail_show_counts_and_link_each_category(admin_client, run):
    html = admin_client.get(reverse("admin:ingest_reconciliationrun_changelist")).content.decode()
    assert f">{run.pk}</a>" in html and "orders" in html
    detail = admin_client.get(reverse("admin:ingest_reconciliationrun_change", args=[run.pk])).content.decode()
    assert "missing: 1</a>" in detail and "behind: 1</a>" in detail and "differs: 1</a>" in detail
    assert "resend.csv" in detail and "resend.jsonl" in detail


def test_drift_of_a_category_side_by_side_and_escaped(admin_client, run):
    url = reverse("admin:ingest_reconciliationdrift_changelist")
    html = admin_client.get(url, {"run__id__exact": run.pk, "category__exact": "behind"}).content.decode()
    row = found(r"<tr>.*?SO-1.*?</tr>", html, re.S).group(0)
    cells = re.findall(r'<td class="field-(\w+)[^"]*">(.*?)</td>', row)
    values = dict(cells)
    assert (values["website_version"], values["snapshot_version"]) == ("1", "2")
    missing = admin_client.get(url, {"run__id__exact": run.pk, "category__exact": "missing"}).content.decode()
    assert HOSTILE not in missing and "&lt;script&gt;" in missing


def test_resend_downloads(admin_client, run):
    jsonl = admin_client.get(reverse("admin:ingest_reconciliationrun_resend_jsonl", args=[run.pk]))
    rows = [json.loads(line) for line in b"".join(jsonl.streaming_content).decode().splitlines()]
    assert sorted((r["key"]["orderNumber"], r["reason"]) for r in rows) == [
        (HOSTILE, "missing"),
        ("SO-1", "behind"),
        ("SO-2", "differs"),
    ]
    csv_response = admin_client.get(reverse("admin:ingest_reconciliationrun_resend_csv", args=[run.pk]))
    table = list(csv.reader(io.StringIO(b"".join(csv_response.streaming_content).decode())))
    assert table[0] == ["stream", "key", "reason"] and len(table) == 4
    assert {json.loads(key)["orderNumber"] for _s, key, _r in table[1:]} == {HOSTILE, "SO-1", "SO-2"}


def test_repair_actions_need_the_permission(client, django_user_model, run):
    url = reverse("admin:ingest_reconciliationrun_changelist")
    client.force_login(staff(django_user_model, "viewer", ["view_reconciliationrun"]))
    assert "apply_content" not in client.get(url).content.decode()
    response = client.post(url, {"action": "apply_content", "_selected_action": [run.pk]})
    assert str(Order.objects.get(order_number="SO-2").total) == "11.7000"
    client.force_login(staff(django_user_model, "operator", ["view_reconciliationrun", "repair_reconciliationrun"]))
    assert "apply_content" in client.get(url).content.decode()
    response = client.post(url, {"action": "apply_content", "_selected_action": [run.pk]}, follow=True)
    assert response.status_code == 200
    assert str(Order.objects.get(order_number="SO-2").total) == "99.0000"
    client.post(url, {"action": "apply_repairs", "_selected_action": [run.pk]})
    assert Order.objects.get(order_number="SO-1").source_version == 2
    run.refresh_from_db()
    assert (run.repaired, run.content_repaired, run.differs, run.behind) == (2, 1, 1, 1)


def test_dashboard_and_gauges_show_open_drift_per_stream(admin_client, run):
    html = admin_client.get(reverse("admin:ingest_freshness")).content.decode()
    row = found(r'<table id="ingest-reconciliation".*?data-stream="orders">(.*?)</tr>', html, re.S).group(1)
    assert f"#{run.pk}</a>" in row and ">4</span>" in row  # missing, behind, differs, only_on_website (SO-3)
    text = prometheus.exposition()[0].decode()
    assert 'ingest_reconcile_open_drift{category="missing",stream="orders"} 1.0' in text
    reconcile(run.source, Requested(apply=True))  # a later run of the same snapshot repairs: nothing stays open
    text = prometheus.exposition()[0].decode()
    assert 'ingest_reconcile_open_drift{category="behind",stream="orders"} 0.0' in text
    assert 'ingest_reconcile_open_drift{category="differs",stream="orders"} 1.0' in text
