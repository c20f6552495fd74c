"""``adopt_field``: a field System Two added is stored as an extra, then adopted into its own column
under a test-only contract change (the field added to the layout and the model)."""

from __future__ import annotations

import gzip
import threading
import uuid
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, connections, models, transaction

from ingest.services.importing.run import import_file
from ingest.services.intake.registration import register_local_file
from ingest.services.repair import adopt_field as adopt_module
from ingest.services.repair.adopt_field import AdoptError, adopt_field
from ingest.testing.contract import contract_change, field_entry, stream_entry
from ingest.testing.samples import order_event
from transforms.system_one.writer import write_record
from website.models import Customer, Order

pytestmark = pytest.mark.django_db(transaction=True)


def customer(number: str, **address_extra) -> dict:
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
            "billingAddress": {"line1": "1 Main St", "city": "Springfield", "countryCode": "US", **address_extra},
        },
    }


_n = iter(range(1_000_000))


def run(tmp_path: Path, stream: str, events: list[dict]):
    path = tmp_path / stream / "2026" / "11" / "27" / "10" / f"f{next(_n)}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress("".join(write_record(e) for e in events).encode()))
    f, _ = register_local_file(path)
    outcome = import_file(f.pk, trigger="test")
    assert outcome.status == "imported", outcome
    return f


def add_discount_code(document: dict) -> None:
    fields = stream_entry(document, "orders")["fields"]
    fields.append({"name": "discountCode", "type": "string", "optional": True})


def add_gate_code(document: dict) -> None:
    field_entry(document, "customers", "billingAddress")["fields"].append(
        {"name": "gateCode", "type": "string", "optional": True}
    )


def discount_column() -> dict:
    return {"Order": {"discount_code": models.TextField(null=True, blank=True)}}


def extras(number: str):
    return Order.objects.get(order_number=number).source_extras


def test_a_new_field_is_kept_as_an_extra_then_adopted(tmp_path):
    # Before the contract names it: the value rides in source_extras.
    run(
        tmp_path,
        "orders",
        [
            order_event("SO-1", discountCode="SPRING10"),
            order_event("SO-2", discountCode="X", segment="B2B"),
            order_event("SO-3"),
            order_event("SO-4", discountCode=42),  # not a string: stays an extra
            order_event("SO-5", discountCode=None),
        ],
    )
    assert extras("SO-1") == {"discountCode": "SPRING10"}
    with contract_change(add_discount_code, columns=discount_column()):
        assert [f.name for f in Order._meta.concrete_fields if f.name == "discount_code"] == ["discount_code"]
        dry = adopt_field("orders", "discountCode", dry_run=True)
        assert (dry.found, dry.adopted, dry.invalid, dry.newer) == (4, 3, 1, 0)
        assert extras("SO-1") == {"discountCode": "SPRING10"}

        report = adopt_field("orders", "discountCode", batch_size=2)
        assert (report.found, report.adopted, report.invalid, report.newer, report.batches) == (4, 3, 1, 0, 2)
        assert "row id" in report.invalid_examples[0] and "must be a string" in report.invalid_examples[0]
        rows = {o.order_number: o for o in Order.objects.all()}
        assert rows["SO-1"].discount_code == "SPRING10" and rows["SO-1"].source_extras is None
        assert rows["SO-2"].discount_code == "X" and rows["SO-2"].source_extras == {"segment": "B2B"}
        assert rows["SO-3"].discount_code is None and rows["SO-3"].source_extras is None
        assert rows["SO-4"].discount_code is None and rows["SO-4"].source_extras == {"discountCode": 42}
        assert rows["SO-5"].discount_code is None and rows["SO-5"].source_extras is None

        # Idempotent: a second run finds only the value that does not fit.
        again = adopt_field("orders", "discountCode")
        assert (again.found, again.adopted, again.invalid) == (1, 0, 1)

        # After the deploy, new events fill the column themselves.
        run(tmp_path, "orders", [order_event("SO-6", discountCode="NEW"), order_event("SO-4", 2, discountCode="FIXED")])
        rows = {o.order_number: o for o in Order.objects.all()}
        assert rows["SO-6"].discount_code == "NEW" and rows["SO-6"].source_extras is None
        assert rows["SO-4"].discount_code == "FIXED" and rows["SO-4"].source_extras is None
        assert adopt_field("orders", "discountCode").found == 0
    assert "discount_code" not in {f.name for f in Order._meta.concrete_fields}


def test_a_member_of_an_object_is_adopted_and_the_empty_object_goes(tmp_path):
    run(tmp_path, "customers", [customer("C-1", gateCode="4411#"), customer("C-2", gateCode="1", buzz=True)])
    assert Customer.objects.get(customer_number="C-1").source_extras == {"billingAddress": {"gateCode": "4411#"}}
    with contract_change(
        add_gate_code, columns={"Customer": {"billing_gate_code": models.TextField(null=True, blank=True)}}
    ):
        report = adopt_field("customers", "billingAddress.gateCode")
        assert (report.found, report.adopted) == (2, 2)
        c1, c2 = Customer.objects.order_by("customer_number")
        assert c1.billing_gate_code == "4411#" and c1.source_extras is None
        assert c2.billing_gate_code == "1" and c2.source_extras == {"billingAddress": {"buzz": True}}


def test_a_row_replaced_by_a_newer_version_meanwhile_is_left_as_the_importer_wrote_it(tmp_path, monkeypatch):
    run(tmp_path, "orders", [order_event("SO-1", discountCode="OLD"), order_event("SO-2", discountCode="KEEP")])
    with contract_change(add_discount_code, columns=discount_column()):
        checked = adopt_module._checked

        def newer_version_lands(target, rows, report):
            # Between the read and the write, an import applies version 2 of SO-1 (no discount).
            valid = checked(target, rows, report)
            run(tmp_path, "orders", [order_event("SO-1", 2, note="v2")])
            return valid

        monkeypatch.setattr(adopt_module, "_checked", newer_version_lands)
        report = adopt_field("orders", "discountCode")
    assert (report.found, report.adopted, report.newer) == (2, 1, 1)
    so1 = Order.objects.get(order_number="SO-1")
    assert so1.source_version == 2 and so1.source_extras == {"note": "v2"}
    assert Order.objects.get(order_number="SO-2").source_extras is None


@pytest.mark.postgres
def test_concurrent_import_on_postgres_wins_over_the_adoption(tmp_path, monkeypatch):
    """The import holds the row (newer version written, not committed) while adopt_field's UPDATE
    waits on it; once the import commits, PostgreSQL re-checks the UPDATE's condition on the new
    row and leaves it as the importer wrote it."""
    run(tmp_path, "orders", [order_event("SO-1", discountCode="OLD")])
    with contract_change(add_discount_code, columns=discount_column()):
        checked = adopt_module._checked
        holding, release, done = threading.Event(), threading.Event(), threading.Event()

        def importer() -> None:
            try:
                with transaction.atomic():
                    run(tmp_path, "orders", [order_event("SO-1", 2, discountCode="NEWER")])
                    holding.set()
                    release.wait(30)
            finally:
                connections.close_all()
                done.set()

        def read_then_race(target, rows, report):
            valid = checked(target, rows, report)
            threading.Thread(target=importer).start()
            assert holding.wait(30)
            # The UPDATE below blocks on the importer's row lock; let the importer commit shortly.
            threading.Timer(0.5, release.set).start()
            return valid

        monkeypatch.setattr(adopt_module, "_checked", read_then_race)
        report = adopt_field("orders", "discountCode")
        assert done.wait(30)
        assert (report.found, report.adopted, report.newer) == (1, 0, 1)
        row = Order.objects.get(order_number="SO-1")
        assert row.source_version == 2 and row.discount_code == "NEWER" and row.source_extras is None


def test_refuses_a_field_the_contract_does_not_name_yet(tmp_path):
    with pytest.raises(AdoptError, match=r"not a field of orders in transforms/streams\.json"):
        adopt_field("orders", "discountCode")
    with pytest.raises(AdoptError, match="key field"):
        adopt_field("orders", "orderNumber")
    with pytest.raises(AdoptError, match="unknown stream"):
        adopt_field("nope", "x")
    with contract_change(add_discount_code), pytest.raises(AdoptError, match="has no field 'discount_code'"):
        adopt_field("orders", "discountCode")


def test_the_command_prints_counts_and_time(tmp_path, capsys):
    run(tmp_path, "orders", [order_event("SO-1", discountCode="A"), order_event("SO-2", discountCode="B")])
    with contract_change(add_discount_code, columns=discount_column()):
        call_command("adopt_field", "orders", "discountCode", "--dry-run")
        out = capsys.readouterr().out
        assert "(dry run): 2 row(s) held it in their extras; 2 would be adopted" in out
        call_command("adopt_field", "orders", "discountCode", "--batch-size", "1", verbosity=2)
        out = capsys.readouterr().out
        assert "batch 2: up to id" in out
        assert "2 row(s) held it in their extras; 2 adopted, 0 left" in out and " s (" in out and "rows/s" in out
        assert set(Order.objects.values_list("discount_code", flat=True)) == {"A", "B"}
    with pytest.raises(CommandError, match="not a field of orders"):
        call_command("adopt_field", "orders", "discountCode")
    assert connection.vendor in {"sqlite", "postgresql"}


def test_the_text_of_a_newer_layouts_column_is_adopted_as_its_type(tmp_path):
    # A line written by a newer transform (priority is an int column there), read by today's layout.
    newer = write_record(order_event("SO-1")).replace("|rush=F", "|rush=F|priority=3|express=T|tags=a;b;")
    path = tmp_path / "orders" / "2026" / "11" / "27" / "10" / "newer"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(newer + write_record(order_event("SO-2", priority="high")), encoding="utf-8")
    f, _ = register_local_file(path)
    assert import_file(f.pk).status == "imported"
    assert extras("SO-1") == {"priority": "3", "express": "T", "tags": "a;b;"}

    def add_priority(document: dict) -> None:
        stream_entry(document, "orders")["fields"].append({"name": "priority", "type": "int", "optional": True})

    with contract_change(add_priority, columns={"Order": {"priority": models.BigIntegerField(null=True)}}):
        report = adopt_field("orders", "priority")
        assert (report.found, report.adopted, report.invalid) == (2, 1, 1)
        assert Order.objects.get(order_number="SO-1").priority == 3
        assert extras("SO-1") == {"express": "T", "tags": "a;b;"}
        assert extras("SO-2") == {"priority": "high"}
