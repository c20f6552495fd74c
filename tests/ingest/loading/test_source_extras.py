"""Unknown members of events: kept on the row (source_extras), on the import (envelope), tallied."""

from __future__ import annotations

import gzip
import uuid
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from ingest.models.contract_drift import EnvelopeExtras, UnknownField
from ingest.services.importing.run import import_file
from ingest.services.intake.registration import register_local_file
from transforms.system_one.writer import write_record
from website.models import Customer, Order, OrderLine

pytestmark = pytest.mark.django_db(transaction=True)


def order(number: str, version: int = 1, *, at: str = "2026-11-27T10:00:00Z", extra=None, envelope=None) -> dict:
    event = {
        "eventId": str(uuid.uuid4()),
        "stream": "orders",
        "eventType": "upsert",
        "occurredAt": at,
        "version": version,
        "key": {"orderNumber": number},
        "data": {
            "orderNumber": number,
            "customerNumber": "C-1",
            "orderDate": "2026-11-20",
            "status": "OPEN",
            "currency": "USD",
            "subtotal": "100.00",
            "tax": "7",
            "shipping": "0",
            "total": "107",
            "rush": False,
            **(extra or {}),
        },
    }
    event.update(envelope or {})
    return event


def delete(number: str, version: int) -> dict:
    return {
        "eventId": str(uuid.uuid4()),
        "stream": "orders",
        "eventType": "delete",
        "occurredAt": "2026-11-27T11:00:00Z",
        "version": version,
        "key": {"orderNumber": number},
    }


def customer(number: str, *, address_extra=None, extra=None) -> dict:
    return {
        "eventId": str(uuid.uuid4()),
        "stream": "customers",
        "eventType": "upsert",
        "occurredAt": "2026-11-27T10:00:00Z",
        "version": 1,
        "key": {"customerNumber": number},
        "data": {
            "customerNumber": number,
            "name": "Ann",
            "status": "ACTIVE",
            "currency": "USD",
            "billingAddress": {
                "line1": "1 Main St",
                "city": "Springfield",
                "countryCode": "US",
                **(address_extra or {}),
            },
            **(extra or {}),
        },
    }


_files = iter(range(1_000_000))


def run(tmp_path: Path, stream: str, events: list[dict]):
    path = tmp_path / stream / "2026" / "11" / "27" / "10" / f"f{next(_files)}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress("".join(write_record(e) for e in events).encode()))
    f, _ = register_local_file(path)
    import_file(f.pk, trigger="test")
    f.refresh_from_db()
    assert f.status == "imported", f.error_message
    return f


def test_no_extras_stores_null(tmp_path):
    run(tmp_path, "orders", [order("SO-1")])
    assert Order.objects.get(order_number="SO-1").source_extras is None
    assert not UnknownField.objects.exists()
    assert not EnvelopeExtras.objects.exists()


def test_data_extras_on_the_row_replaced_with_each_applied_version(tmp_path):
    extra = {"discountCode": "SPRING10", "loyalty": {"tier": 2, "points": [1, 2.5]}, "note": None}
    run(tmp_path, "orders", [order("SO-1", 1, extra=extra)])
    row = Order.objects.get(order_number="SO-1")
    assert row.source_extras == extra
    # A stale version changes nothing, extras included.
    run(tmp_path, "orders", [order("SO-1", 1, at="2026-11-27T09:00:00Z", extra={"discountCode": "OLD"})])
    assert Order.objects.get(order_number="SO-1").source_extras == extra
    # The next applied version replaces them (another extra) ...
    run(tmp_path, "orders", [order("SO-1", 2, extra={"discountCode": "SUMMER"})])
    assert Order.objects.get(order_number="SO-1").source_extras == {"discountCode": "SUMMER"}
    # ... a delete keeps the row's data, extras included ...
    run(tmp_path, "orders", [delete("SO-1", 3)])
    row = Order.objects.get(order_number="SO-1")
    assert row.is_deleted and row.source_extras == {"discountCode": "SUMMER"}
    # ... and a version without any leaves none.
    run(tmp_path, "orders", [order("SO-1", 4)])
    assert Order.objects.get(order_number="SO-1").source_extras is None


def test_extras_in_one_batch_the_winner_counts(tmp_path):
    run(tmp_path, "orders", [order("SO-1", 2, extra={"a": 2}), order("SO-1", 1, extra={"a": 1}), order("SO-2")])
    assert Order.objects.get(order_number="SO-1").source_extras == {"a": 2}
    assert Order.objects.get(order_number="SO-2").source_extras is None


def test_nested_extras_under_their_object_and_placeholders_have_none(tmp_path):
    run(tmp_path, "orders", [order("SO-1")])
    assert Customer.objects.get(customer_number="C-1").is_placeholder
    assert Customer.objects.get(customer_number="C-1").source_extras is None
    run(tmp_path, "customers", [customer("C-1", address_extra={"gateCode": "4411#"}, extra={"segment": {"t": 1}})])
    row = Customer.objects.get(customer_number="C-1")
    assert row.source_extras == {"billingAddress": {"gateCode": "4411#"}, "segment": {"t": 1}}
    assert row.billing_city == "Springfield"
    fields = {(u.scope, u.path): u for u in UnknownField.objects.filter(stream="customers")}
    assert set(fields) == {("data", "billingAddress.gateCode"), ("data", "segment")}
    assert fields[("data", "billingAddress.gateCode")].sample == "4411#"
    assert fields[("data", "segment")].json_types == ["object"]


def test_unicode_and_awkward_extras_round_trip(tmp_path):
    extra = {"a.b": "x|y=z\n\\N 🎉", "list": ["", None, True, 1, -2.5e-3], "empty": {}, "Ü": "ü"}
    event = {
        "eventId": str(uuid.uuid4()),
        "stream": "order-lines",
        "eventType": "upsert",
        "occurredAt": "2026-11-27T10:00:00Z",
        "version": 1,
        "key": {"orderNumber": "SO-1", "lineNumber": 1},
        "data": {
            "orderNumber": "SO-1",
            "lineNumber": 1,
            "sku": "X",
            "description": "d",
            "quantity": 1,
            "unitPrice": "1",
            "extendedPrice": "1",
            "imprintColors": ["GOLD"],
            **extra,
        },
    }
    run(tmp_path, "order-lines", [event])
    row = OrderLine.objects.get(order_id="SO-1", line_number=1)
    assert row.source_extras == extra
    assert row.imprint_colors == ["GOLD"]


def test_envelope_extras_on_the_import_not_the_row(tmp_path):
    first = order("SO-1", extra={"discountCode": "A"}, envelope={"source": "s2-prod", "trace": {"id": 7}})
    f = run(tmp_path, "orders", [first, order("SO-2"), order("SO-3", envelope={"source": "s2-prod"})])
    assert Order.objects.get(order_number="SO-1").source_extras == {"discountCode": "A"}
    kept = EnvelopeExtras.objects.get(import_file=f)
    assert (kept.first_line, kept.last_line, kept.events) == (1, 3, 2)
    assert kept.extras == [
        {"line": 1, "eventId": first["eventId"], "extras": {"source": "s2-prod", "trace": {"id": 7}}},
        {"line": 3, "eventId": kept.extras[1]["eventId"], "extras": {"source": "s2-prod"}},
    ]
    seen = {(u.scope, u.path): u.events for u in UnknownField.objects.filter(stream="orders")}
    assert seen == {("data", "discountCode"): 1, ("envelope", "source"): 2, ("envelope", "trace"): 1}


def test_unknown_fields_tallied_per_import_and_counted(tmp_path):
    before = (
        REGISTRY.get_sample_value("ingest_unknown_fields_seen_total", {"stream": "orders", "field": "discountCode"})
        or 0
    )
    run(tmp_path, "orders", [order(f"SO-{n}", extra={"discountCode": n if n % 2 else str(n)}) for n in range(5)])
    f2 = run(tmp_path, "orders", [order("SO-9", extra={"discountCode": None})])
    row = UnknownField.objects.get(stream="orders", path="discountCode")
    assert row.events == 6
    assert row.json_types == ["integer", "null", "string"]
    assert row.sample == "0"
    assert row.first_seen <= row.last_seen and row.last_import_id == f2.pk
    after = REGISTRY.get_sample_value("ingest_unknown_fields_seen_total", {"stream": "orders", "field": "discountCode"})
    assert after is not None
    assert after - (before or 0) == 6


def test_dry_run_records_no_drift(tmp_path):
    from ingest.services.repair.reimport import dry_run_import

    path = tmp_path / "orders" / "2026" / "11" / "27" / "10" / "dry"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(write_record(order("SO-1", extra={"x": 1}, envelope={"y": 2})).encode())
    f, _ = register_local_file(path)
    dry_run_import(f.pk)
    assert not UnknownField.objects.exists() and not EnvelopeExtras.objects.exists()
    assert not Order.objects.exists()


def test_reimport_replaces_the_files_envelope_extras(tmp_path):
    f = run(tmp_path, "orders", [order("SO-1", envelope={"source": "a"})])
    from ingest.services.repair.reimport import reimport_files

    report = reimport_files([f], sync=True)
    assert report.imported and report.imported[0].status == "imported"
    assert EnvelopeExtras.objects.filter(import_file=f).count() == 1


def test_hostile_extras_never_fail_the_import(tmp_path):
    from django.db import connection

    long_name = "x" * 700
    nul_envelope = order("SO-1", extra={long_name: 1}, envelope={"trace": "a\x00b", "n\x00": 1})
    nul_data = order("SO-2", extra={"note": "a\x00b"})
    path = tmp_path / "orders" / "2026" / "11" / "27" / "10" / "hostile"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress("".join(write_record(e) for e in (nul_envelope, nul_data)).encode()))
    f, _ = register_local_file(path)
    import_file(f.pk, trigger="test")
    f.refresh_from_db()
    assert Order.objects.get(order_number="SO-1").source_extras == {long_name: 1}
    # jsonb refuses U+0000: envelope members holding one are kept as their exact JSON text.
    [kept] = EnvelopeExtras.objects.get(import_file=f).extras
    assert kept["extrasJson"] == '{"trace":"a\\u0000b","n\\u0000":1}'
    if connection.vendor == "postgresql":
        # A data extra holding one is a line error there, like a known field holding one.
        assert f.status == "imported_with_errors" and f.errors_count == 1
        assert not Order.objects.filter(order_number="SO-2").exists()
    else:
        assert Order.objects.get(order_number="SO-2").source_extras == {"note": "a\x00b"}
    fields = {u.path: u for u in UnknownField.objects.filter(stream="orders")}
    assert "x" * 512 in fields and fields["x" * 512].events == 1
    assert fields["n\\u0000"].scope == "envelope"
