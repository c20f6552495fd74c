"""The import: a line whose JSON extra names a key twice is one line error naming the key; the
other lines load."""

from __future__ import annotations

import pytest

from ingest.models import ImportLineError
from ingest.services.importing.run import import_file
from ingest.services.intake.registration import register_local_file
from ingest.testing.samples import checked, order_event
from transforms.system_one.writer import write_record
from website.models import Order

pytestmark = pytest.mark.django_db


def test_a_duplicate_key_in_an_extra_is_a_line_error_naming_it(tmp_path):
    bad = write_record(checked(order_event("SO-BAD", segment={"tier": 1}))).replace(
        '+segment={"tier":1}', '+segment={"tier":1,"tier":2}'
    )
    lines = [write_record(checked(order_event("SO-1"))), bad, write_record(checked(order_event("SO-2")))]
    path = tmp_path / "orders" / "dup"
    path.parent.mkdir(parents=True)
    path.write_text("".join(lines))
    f, _ = register_local_file(path)
    outcome = import_file(f.pk, trigger="test")
    assert outcome.status == "imported_with_errors"
    assert set(Order.objects.values_list("order_number", flat=True)) == {"SO-1", "SO-2"}
    [error] = ImportLineError.objects.filter(import_file_id=f.pk)
    assert error.line_number == 2 and "duplicate key 'tier'" in error.message
