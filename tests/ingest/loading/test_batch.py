"""The loader on its own: the version guard decides inside the statement, which also reports what it did."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import connection, transaction

from ingest.services.importing.rows import RowEvent
from ingest.services.loading import BatchCounts, apply_batch, derived, dialect
from ingest.services.loading import prepared as prepared_module
from ingest.services.loading.derived import DerivedColumns
from ingest.services.loading.dialect import Db
from ingest.services.loading.prepared import BatchPreparer
from ingest.services.loading.references import applied_references, ensure_placeholders
from ingest.services.loading.tables import table_sql
from ingest.services.loading.upsert import merge
from transforms.streams import STREAMS, StreamSpec
from website.models import Customer, Order, OrderLine

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


# --- apply_batch: counts and keys come from the merge itself ----------------------------------------------

LINE = {
    "sku": "JRN-1",
    "description": "A5",
    "quantity": 1,
    "unit_price": Decimal("1"),
    "extended_price": Decimal("1"),
    "imprint_method": None,
    "imprint_colors": ["GOLD"],
}


def line(order: str, number: int, version: int, *, at: datetime = AT, event_id: str = "e", delete=False) -> RowEvent:
    values = None if delete else {"order_id": order, "line_number": number, **LINE, "quantity": version}
    return RowEvent(1, (order, number), delete, version, at, f"{event_id}-{version}", values)


def apply(events: list[RowEvent], stream: str = "order-lines", **kw) -> BatchCounts:
    with transaction.atomic():
        return apply_batch(events, STREAMS[stream], None, **kw)


def apply_prepared(events: list[RowEvent], spec: StreamSpec, import_id: int | None, **kw) -> BatchCounts:
    """``apply_batch`` as a big file's import does it: the batch prepared as COPY text (where the
    lines were parsed), then applied."""
    return prepared_module.apply_prepared(BatchPreparer(spec, connection).prepare(events), spec, import_id, **kw)


@pytest.fixture(params=["arrays", "copy", "prepared"])
def staging(request, monkeypatch):
    """Small batches travel inside the statement, big ones by COPY (PostgreSQL), a big file's
    batches as COPY text prepared by its parse process: all paths, same results."""
    if request.param == "copy":
        monkeypatch.setattr(dialect, "SMALL_BATCH", 0)
    if request.param == "prepared":
        if connection.vendor != "postgresql":
            pytest.skip("batches are prepared as COPY text for PostgreSQL only")
        monkeypatch.setitem(globals(), "apply_batch", apply_prepared)
    return request.param


def test_counts_and_keys_are_exact(staging):
    Order.objects.create(order_number="SO-1", source_version=1)
    Order.objects.create(order_number="SO-2", is_placeholder=True)
    OrderLine.objects.create(order_id="SO-1", line_number=1, source_version=5, source_event_id="x")
    OrderLine.objects.create(order_id="SO-1", line_number=2, source_version=1, source_event_id="x")
    counts = apply(
        [
            line("SO-1", 1, 4),  # stale against the stored 5
            line("SO-1", 2, 2),  # updates
            line("SO-1", 3, 1),
            line("SO-1", 3, 2),  # the winner of line 3; the other one is stale within the batch
            line("SO-2", 1, 1),  # a new key naming a placeholder that exists
            line("SO-3", 1, 1, delete=True),  # a key whose first event is a delete
            line("SO-4", 1, 1),  # names an order with no row: a placeholder
        ],
        collect_keys=True,
    )
    assert (counts.created, counts.updated, counts.stale, counts.deleted, counts.placeholders) == (3, 1, 2, 1, 1)
    assert sorted(counts.created_keys) == [("SO-1", 3), ("SO-2", 1), ("SO-4", 1)]
    assert counts.updated_keys == [("SO-1", 2)]
    assert counts.deleted_keys == [("SO-3", 1)]
    assert OrderLine.objects.get(order_id="SO-1", line_number=1).source_version == 5
    assert OrderLine.objects.get(order_id="SO-3", line_number=1).is_deleted
    assert sorted(Order.objects.filter(is_placeholder=True).values_list("order_number", flat=True)) == [
        "SO-2",
        "SO-4",
    ]
    # The same events again: all stale, nothing created, no key reported.
    again = apply([line("SO-1", 2, 2), line("SO-4", 1, 1)], collect_keys=True)
    assert (again.created, again.updated, again.stale, again.placeholders) == (0, 0, 2, 0)
    assert again.created_keys == again.updated_keys == again.deleted_keys == []
    # A placeholder filled by its own event is a creation.
    values = {
        "order_number": "SO-4",
        "customer_id": None,
        "order_date": AT.date(),
        "status": "OPEN",
        "currency": "USD",
        **dict.fromkeys(("subtotal", "tax", "shipping", "total"), Decimal("1")),
        "po_number": None,
        "requested_ship_date": None,
        "rush": False,
    }
    filled = apply([RowEvent(1, ("SO-4",), False, 1, AT, "o-1", values)], "orders", collect_keys=True)
    assert (filled.created, filled.updated, filled.created_keys) == (1, 0, [("SO-4",)])
    assert not Order.objects.get(order_number="SO-4").is_placeholder


def test_keys_are_not_collected_unless_asked(staging):
    counts = apply([line("SO-1", 1, 1), line("SO-1", 2, 1, delete=True)])
    assert (counts.created, counts.deleted) == (1, 1)
    assert counts.created_keys == counts.updated_keys == counts.deleted_keys == []


def test_a_newer_version_naming_another_parent_removes_the_orphan_placeholder(staging):
    def invoice(number: str, version: int, order: str) -> RowEvent:
        values = {
            "invoice_number": number,
            "order_id": order,
            "customer_id": "C-1",
            "invoice_date": AT.date(),
            "due_date": AT.date(),
            "status": "OPEN",
            "currency": "USD",
            "total": Decimal("1"),
            "balance_due": Decimal("1"),
        }
        return RowEvent(1, (number,), False, version, AT, f"i-{version}", values)

    assert apply([invoice("I-1", 1, "SO-OLD")], "invoices").placeholders == 2
    OrderLine.objects.create(order_id="SO-KEPT", line_number=1, source_version=1)
    apply([invoice("I-2", 1, "SO-KEPT")], "invoices")
    counts = apply([invoice("I-1", 2, "SO-NEW"), invoice("I-2", 2, "SO-NEW")], "invoices")
    assert (counts.updated, counts.placeholders) == (2, 1)
    orders = set(Order.objects.values_list("order_number", flat=True))
    # SO-OLD is named by nothing any more; SO-KEPT still by an order line.
    assert orders == {"SO-NEW", "SO-KEPT"}


def test_derived_columns_come_from_the_declared_rules(monkeypatch, staging):
    """The loader recomputes what a rule declares for the batch's stream, with every target key an
    applied event named (before or after), and nothing for streams without a rule."""
    seen: list[list] = []
    rule = DerivedColumns(
        source="order-lines",
        via="order_id",
        target="orders",
        columns=(),
        recompute=lambda db, keys: seen.append(keys),
        lock_id=1,
    )
    monkeypatch.setattr(derived, "RULES", (rule,))
    apply([line("SO-1", 1, 1), line("SO-2", 1, 1), line("SO-2", 2, 1, delete=True)])
    assert seen == [["SO-1", "SO-2"]]
    apply([line("SO-1", 1, 1)])  # stale: nothing applied, nothing to recompute
    assert len(seen) == 1
    assert derived.rules_for("estimates") == ()


def test_the_quote_rule_is_declared_for_estimates():
    (rule,) = derived.RULES
    assert (rule.source, rule.via, rule.target, rule.columns) == (
        "estimates",
        "order_id",
        "orders",
        ("quote_number", "quote_version"),
    )


@pytest.mark.postgres
def test_slow_path_recreates_a_parent_that_vanished(staging):
    """When a parent the merge named was removed under it, the batch creates it again and holds it."""
    apply([line("SO-1", 1, 1), line("SO-1", 2, 1)])
    Order.objects.filter(order_number="SO-1").delete()  # as a concurrent orphan removal would
    with transaction.atomic():
        db = Db(connection)
        try:
            sql = table_sql("order-lines", connection)
            refs = applied_references(db, sql, [line("SO-1", 1, 1), line("SO-1", 2, 1), line("SO-1", 3, 9)], "order_id")
            assert refs == {"SO-1"}
            assert ensure_placeholders(db, "orders", refs, None) == 1
        finally:
            db.close()
    assert Order.objects.get(order_number="SO-1").is_placeholder


@pytest.mark.postgres
def test_a_prepared_batch_finds_its_references_in_its_staging_table():
    """The slow path of a prepared batch reads the parents from the rows its staging table holds."""
    events = [line("SO-1", 1, 1), line("SO-2", 1, 1), line("SO-1", 2, 3, delete=True)]
    with transaction.atomic():
        db = Db(connection)
        try:
            sql = table_sql("order-lines", connection)
            prepared = BatchPreparer(STREAMS["order-lines"], connection).prepare(events)
            assert (prepared.upserts, prepared.deletes, prepared.beaten) == (2, 1, 0)
            up = prepared.merge(db, sql, None, delete=False, collect=False, watched=())
            assert up.applied == 2 and up.stage.startswith("ingest_stage_")
            upserts = [ev for ev in events if not ev.is_delete]
            assert prepared.references(db, sql, up, "order_id") == applied_references(db, sql, upserts, "order_id")
            assert prepared.references(db, sql, up, "order_id") == {"SO-1", "SO-2"}
        finally:
            db.close()


def test_batches_are_prepared_for_postgresql_only():
    if connection.vendor == "postgresql":
        pytest.skip("SQLite's refusal")
    with pytest.raises(ValueError, match="PostgreSQL only"):
        BatchPreparer(STREAMS["order-lines"], connection)
