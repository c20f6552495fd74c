"""The nine website models in the admin: read-only lists with search, filters and a link to the
import that last wrote each row."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.ingest.admin.factories import make_file, make_website_rows
from website.models import MODELS_BY_STREAM, Customer, Order, OrderLine

MODELS = sorted(MODELS_BY_STREAM.values(), key=lambda m: str(m._meta.model_name))


def changelist(model) -> str:
    return reverse(f"admin:website_{model._meta.model_name}_changelist")


@pytest.fixture
def rows(db):
    f = make_file()
    make_website_rows(3, last_import=f)
    Customer.objects.filter(customer_number="C-00001").update(is_placeholder=True, name=None)
    Order.objects.filter(order_number="SO-000002").update(is_deleted=True)
    return f


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m._meta.model_name)
def test_every_model_lists_its_rows_with_a_link_to_their_import(admin_client, rows, model):
    response = admin_client.get(changelist(model))
    assert response.status_code == 200
    assert len(response.context["cl"].result_list) == 3
    html = response.content.decode()
    link = reverse("admin:ingest_importfile_change", args=[rows.pk])
    assert html.count(f'<a href="{link}">import #{rows.pk}</a>') == 3


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m._meta.model_name)
def test_every_model_is_read_only(admin_client, rows, model):
    obj = model.objects.first()
    name = model._meta.model_name
    assert admin_client.get(reverse(f"admin:website_{name}_add")).status_code == 403
    assert admin_client.post(reverse(f"admin:website_{name}_change", args=[obj.pk]), {}).status_code == 403
    assert admin_client.post(reverse(f"admin:website_{name}_delete", args=[obj.pk]), {"post": "yes"}).status_code == 403
    page = admin_client.get(reverse(f"admin:website_{name}_change", args=[obj.pk]))
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    assert model.objects.count() == 3


def test_search_by_natural_key_and_name(admin_client, rows):
    found = admin_client.get(changelist(Customer), {"q": "C-00002"}).context["cl"].result_list
    assert [c.customer_number for c in found] == ["C-00002"]
    found = admin_client.get(changelist(Customer), {"q": "customer <b>0"}).context["cl"].result_list
    assert [c.customer_number for c in found] == ["C-00000"]
    for term in ("SO-000001", "so-000001", " SO-000001/1 "):
        found = admin_client.get(changelist(OrderLine), {"q": term}).context["cl"].result_list
        assert [(line.order_id, line.line_number) for line in found] == [("SO-000001", 1)], term
    assert not admin_client.get(changelist(OrderLine), {"q": "SO-000001/2"}).context["cl"].result_list
    assert not admin_client.get(changelist(OrderLine), {"q": "SO-00000"}).context["cl"].result_list
    found = admin_client.get(changelist(Order), {"q": "SO-00000"}).context["cl"].result_list
    assert [o.order_number for o in found] == ["SO-000000", "SO-000001", "SO-000002"]


def test_filters_on_placeholders_deleted_and_status(admin_client, rows):
    found = admin_client.get(changelist(Customer), {"is_placeholder__exact": "1"}).context["cl"].result_list
    assert [c.customer_number for c in found] == ["C-00001"]
    found = admin_client.get(changelist(Order), {"is_deleted__exact": "1"}).context["cl"].result_list
    assert [o.order_number for o in found] == ["SO-000002"]
    assert not admin_client.get(changelist(Order), {"status__exact": "CLOSED"}).context["cl"].result_list
    assert len(admin_client.get(changelist(Order), {"status__exact": "OPEN"}).context["cl"].result_list) == 3


def test_references_link_to_the_referenced_rows_by_key(admin_client, rows):
    html = admin_client.get(changelist(OrderLine)).content.decode()
    assert f'<a href="{changelist(Order)}?order_number=SO-000001">SO-000001</a>' in html
    response = admin_client.get(changelist(Order), {"order_number": "SO-000001"})
    assert [o.order_number for o in response.context["cl"].result_list] == ["SO-000001"]


def test_text_from_system_two_is_escaped(admin_client, rows):
    html = admin_client.get(changelist(Customer)).content.decode()
    assert "Customer &lt;b&gt;0&lt;/b&gt;" in html
    assert "Customer <b>0</b>" not in html


def test_a_row_whose_referenced_row_is_missing_still_shows(admin_client, rows):
    line = OrderLine.objects.create(order_id="SO-NOT-HERE", line_number=1, last_import=rows)
    response = admin_client.get(reverse("admin:website_orderline_change", args=[line.pk]))
    assert response.status_code == 200
    assert "SO-NOT-HERE" in admin_client.get(changelist(OrderLine)).content.decode()
