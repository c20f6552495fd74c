"""A batch ends at INGEST_BATCH_MAX_BYTES of lines as well as at INGEST_BATCH_SIZE lines: wide lines
make short batches (each batch writes one outbox row, so the parts count the batches)."""

from __future__ import annotations

import pytest

from ingest.models import ChangeNotification
from ingest.services.importing.run import import_file
from ingest.services.intake.registration import register_local_file
from ingest.testing.samples import order_line_event
from transforms.system_one.writer import write_record
from website.models import OrderLine

pytestmark = pytest.mark.django_db(transaction=True)


def import_lines(tmp_path, lines: list[bytes]):
    path = tmp_path / "order-lines" / "wide"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(lines))
    f, _ = register_local_file(path)
    return import_file(f.pk, trigger="test")


def wide(line: int, width: int) -> bytes:
    event = order_line_event("SO-W", line)
    event["data"]["description"] = "w" * width
    return write_record(event).encode()


def parts(outcome) -> list[int]:
    return list(ChangeNotification.objects.filter(import_file_id=outcome.import_file_id).values_list("part", flat=True))


def test_a_batch_ends_at_the_line_that_reaches_its_byte_bound(tmp_path, settings):
    settings.INGEST_BATCH_SIZE = 10_000
    settings.INGEST_BATCH_MAX_BYTES = 2_000
    lines = [wide(n, 800) for n in range(1, 11)]
    assert all(1_000 < len(line) < 2_000 for line in lines)
    outcome = import_lines(tmp_path, lines)
    assert outcome.status == "imported" and outcome.counts["rows_created"] == 10
    assert OrderLine.objects.count() == 10
    assert sorted(parts(outcome)) == [1, 2, 3, 4, 5]  # two lines a batch: the second reaches 2,000 bytes


def test_a_line_wider_than_the_bound_is_a_batch_of_its_own(tmp_path, settings):
    settings.INGEST_BATCH_MAX_BYTES = 100
    outcome = import_lines(tmp_path, [wide(n, 300) for n in range(1, 4)])
    assert outcome.status == "imported" and OrderLine.objects.count() == 3
    assert sorted(parts(outcome)) == [1, 2, 3]


def test_narrow_lines_still_batch_by_count(tmp_path, settings):
    settings.INGEST_BATCH_SIZE = 4
    outcome = import_lines(tmp_path, [wide(n, 10) for n in range(1, 11)])
    assert outcome.status == "imported" and OrderLine.objects.count() == 10
    assert sorted(parts(outcome)) == [1, 2, 3]
