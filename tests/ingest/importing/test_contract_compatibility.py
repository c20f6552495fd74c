"""Files across a deploy that adds a field (``orders.discountCode``, a test-only contract change):
files written before it import correctly after it, and a file written after it, read by the layout
of before, keeps the new column's value as an extra. The files are committed fixtures of today's
layout (tests/fixtures/system_one/)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from django.db import models

from ingest.services.importing.run import import_file
from ingest.services.intake.registration import register_local_file
from ingest.services.repair.adopt_field import adopt_field
from ingest.testing.contract import contract_change, stream_entry
from transforms.system_one import read_record
from transforms.system_one.writer import write_record
from website.models import Order

pytestmark = pytest.mark.django_db(transaction=True)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "system_one"
BEFORE = FIXTURES / "orders-before-discount-code.txt"
AFTER = FIXTURES / "orders-with-discount-code-column.txt"


def add_discount_code(document: dict) -> None:
    stream_entry(document, "orders")["fields"].append({"name": "discountCode", "type": "string", "optional": True})


def with_column():
    return contract_change(add_discount_code, columns={"Order": {"discount_code": models.TextField(null=True)}})


def run(tmp_path: Path, fixture: Path):
    path = tmp_path / "orders" / "2026" / "11" / "27" / "10" / fixture.name
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(fixture, path)
    f, _ = register_local_file(path)
    outcome = import_file(f.pk, trigger="test")
    f.refresh_from_db()
    assert (outcome.status, f.errors_count) == ("imported", 0), f.error_message
    return {o.order_number: o for o in Order.objects.all()}


def lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines(keepends=True)


def test_the_fixtures_are_the_layouts_they_claim():
    # Before: today's writer writes exactly these lines (the field rides as an extra).
    assert [write_record(read_record(line).to_event()) for line in lines(BEFORE)] == lines(BEFORE)
    assert "+discountCode=" in BEFORE.read_text() and "|discountCode=" not in BEFORE.read_text()
    # After: the writer of the changed contract writes exactly these (the field is a column).
    with contract_change(add_discount_code):
        assert [write_record(read_record(line).to_event()) for line in lines(AFTER)] == lines(AFTER)
    assert "|discountCode=" in AFTER.read_text() and "+discountCode" not in AFTER.read_text()


def test_a_file_from_before_imports_today_with_the_field_as_an_extra(tmp_path):
    rows = run(tmp_path, BEFORE)
    assert rows["SO-A"].source_extras == {"discountCode": "SPRING10"}
    assert rows["SO-B"].is_deleted and rows["SO-B"].source_extras is None
    assert rows["SO-C"].source_extras == {"discountCode": None, "segment": {"tier": 2}}


def test_a_file_from_before_imports_correctly_after_the_field_was_added(tmp_path):
    with with_column():
        rows = run(tmp_path, BEFORE)
        # The extra written before the field existed is read as the field.
        assert rows["SO-A"].discount_code == "SPRING10" and rows["SO-A"].source_extras is None
        assert rows["SO-B"].discount_code is None and rows["SO-B"].is_deleted
        assert rows["SO-C"].discount_code is None and rows["SO-C"].source_extras == {"segment": {"tier": 2}}
        assert rows["SO-A"].total == 107 and rows["SO-A"].customer_id == "C-1"


def test_a_file_with_the_new_column_read_by_the_old_layout_keeps_the_value_as_an_extra(tmp_path):
    rows = run(tmp_path, AFTER)
    assert rows["SO-X"].source_extras == {"discountCode": "SUMMER|25"}
    assert rows["SO-Y"].source_extras == {"discountCode": None}
    assert rows["SO-Z"].source_extras is None
    # Deployed later, the field is adopted from those extras.
    with with_column():
        report = adopt_field("orders", "discountCode")
        assert (report.found, report.adopted) == (2, 2)
        rows = {o.order_number: o for o in Order.objects.all()}
        assert rows["SO-X"].discount_code == "SUMMER|25" and rows["SO-X"].source_extras is None
        assert rows["SO-Y"].discount_code is None and rows["SO-Y"].source_extras is None


def test_a_file_with_the_new_column_imports_after_the_change(tmp_path):
    with with_column():
        rows = run(tmp_path, AFTER)
        assert rows["SO-X"].discount_code == "SUMMER|25" and rows["SO-X"].source_extras is None
        assert rows["SO-Y"].discount_code is None and rows["SO-Z"].discount_code is None
