"""The loader's SQL on its own: the version guard decides inside the statement."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import connection, transaction

from ingest.services.loading.dialect import Db
from ingest.services.loading.tables import table_sql
from ingest.services.loading.upsert import merge
from ingest.services.rows import RowEvent
from website.models import Customer

pytestmark = pytest.mark.django_db

AT = datetime(2026, 11, 27, 10, tzinfo=UTC)


def customer(number: str, version: int, name: str, *, event_id: str = "e", at: datetime = AT) -> RowEvent:
    values = {
        "customer_number": number,
        "name": name,
        "email": None,
        "phone": None,
        "status": "ACTIVE",
        "credit_limit": None,
        "currency": "USD",
        "billing_line1": "1 Main St",
        "billing_line2": None,
        "billing_city": "Boston",
        "billing_region": None,
        "billing_postal_code": None,
        "billing_country_code": "US",
    }
    return RowEvent(1, (number,), False, version, at, f"{event_id}-{version}", values)


def write(events: list[RowEvent], *, delete: bool = False) -> set[tuple]:
    with transaction.atomic():
        db = Db(connection)
        try:
            result = merge(db, table_sql("customers", connection), events, None, delete=delete, collect=True)
        finally:
            db.close()
    keys = result.applied_keys if delete else result.created_keys + result.updated_keys
    assert len(keys) == result.applied
    return set(keys)


def test_guard_in_sql_rejects_lower_versions_and_reports_what_it_applied():
    assert write([customer("C-1", 5, "five")]) == {("C-1",)}
    # Sent without the Python pre-filter: the statement itself must refuse version 3.
    applied = write([customer("C-1", 3, "three"), customer("C-2", 1, "new")])
    assert applied == {("C-2",)}
    assert Customer.objects.get(customer_number="C-1").name == "five"


def test_equal_version_ties_break_on_occurred_at_then_event_id():
    write([customer("C-1", 2, "first", at=AT, event_id="m")])
    assert write([customer("C-1", 2, "earlier", at=AT.replace(hour=9), event_id="n")]) == set()
    assert write([customer("C-1", 2, "later", at=AT.replace(hour=11), event_id="e")]) == {("C-1",)}
    assert write([customer("C-1", 2, "same-time-lower-id", at=AT.replace(hour=11), event_id="a")]) == set()
    assert write([customer("C-1", 2, "same-time-higher-id", at=AT.replace(hour=11), event_id="z")]) == {("C-1",)}
    assert Customer.objects.get(customer_number="C-1").name == "same-time-higher-id"


def test_delete_keeps_data_and_is_guarded_too():
    write([customer("C-1", 2, "two")])
    gone = RowEvent(1, ("C-1",), True, 1, AT, "d-1", None)
    assert write([gone], delete=True) == set()
    gone = RowEvent(1, ("C-1",), True, 3, AT, "d-3", None)
    assert write([gone], delete=True) == {("C-1",)}
    row = Customer.objects.get(customer_number="C-1")
    assert row.is_deleted and row.name == "two" and row.source_version == 3
