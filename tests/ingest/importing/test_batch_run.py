"""Small files imported in batches (ingest/services/importing/batch_run.py): one transaction, yet
each file its own attempt, counts, line errors and status; a bad file fails alone; a big file and a
lone file go the usual way; on PostgreSQL two workers racing over the same files import each once."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection

from ingest.models import ImportAttempt, ImportFile, ImportLineError, ImportStatus
from ingest.services.importing.batch_run import import_with_batch_mates
from ingest.services.importing.exceptions import ImportBusy
from ingest.services.intake.registration import register_local_file
from tests.ingest.importing.test_run import ev, order, write
from website.models import Order

pytestmark = pytest.mark.django_db(transaction=True)


def _orders_file(tmp_path, n: int, lines: int = 3, **kw):
    events = [ev("orders", {"orderNumber": f"SO-{n}-{i}"}, order(f"SO-{n}-{i}")) for i in range(lines)]
    path = write(tmp_path, "orders", events, name=f"f{n:04d}", **kw)
    f, _ = register_local_file(path)
    return f


def test_a_batch_keeps_each_files_own_accounting_and_a_bad_file_fails_alone(tmp_path):
    files = [_orders_file(tmp_path, n) for n in range(4)]
    with_errors = _orders_file(tmp_path, 4, raw=b"this is not a System One line\n")
    corrupt_path = tmp_path / "orders" / "corrupt"
    corrupt_path.write_bytes(b"\x1f\x8b\x08\x00" + b"\x00" * 6 + b"not deflate data at all" * 4)
    corrupt, _ = register_local_file(corrupt_path)

    outcome = import_with_batch_mates(files[0].pk, trigger="task", limit=10)

    assert outcome.status == ImportStatus.IMPORTED and outcome.counts["rows_created"] == 3
    for f in files:
        f.refresh_from_db()
        assert (f.status, f.lines_total, f.rows_created, f.attempts_count) == ("imported", 3, 3, 1)
        [attempt] = ImportAttempt.objects.filter(import_file=f)
        assert (attempt.status, attempt.rows_created) == ("imported", 3)
        assert attempt.trigger == ("task" if f.pk == files[0].pk else "batch")
        assert Order.objects.filter(last_import=f).count() == 3
    with_errors.refresh_from_db()
    assert (with_errors.status, with_errors.lines_total, with_errors.errors_count) == ("imported_with_errors", 4, 1)
    [attempt] = ImportAttempt.objects.filter(import_file=with_errors)
    assert list(ImportLineError.objects.filter(import_file=with_errors).values_list("attempt_id", flat=True)) == [
        attempt.pk
    ]
    corrupt.refresh_from_db()
    assert corrupt.status == ImportStatus.FAILED and "corrupt" in corrupt.error_message.lower()
    assert list(ImportAttempt.objects.filter(import_file=corrupt).values_list("status", flat=True)) == ["failed"]
    assert not Order.objects.filter(last_import=corrupt).exists()
    assert Order.objects.count() == 5 * 3


def test_the_batch_takes_at_most_its_limit_and_only_small_ready_files_of_its_stream(tmp_path, settings):
    files = [_orders_file(tmp_path, n) for n in range(5)]
    ImportFile.objects.filter(pk=files[4].pk).update(size=settings.INGEST_IMPORT_BATCH_MAX_BYTES + 1)
    other_stream = ImportFile.objects.create(key="/x/customers/one", stream="customers", size=10)
    import_with_batch_mates(files[0].pk, limit=3)
    statuses = dict(ImportFile.objects.values_list("pk", "status"))
    assert [statuses[f.pk] for f in files] == ["imported", "imported", "imported", "pending", "pending"]
    assert statuses[other_stream.pk] == "pending"


def test_a_lone_file_and_a_big_file_are_imported_the_usual_way(tmp_path, settings):
    lone = _orders_file(tmp_path, 0)
    assert import_with_batch_mates(lone.pk, limit=10).status == "imported"
    big = _orders_file(tmp_path, 1)
    waiting = _orders_file(tmp_path, 2)
    ImportFile.objects.filter(pk=big.pk).update(size=settings.INGEST_IMPORT_BATCH_MAX_BYTES + 1)
    assert import_with_batch_mates(big.pk, limit=10).status == "imported"
    waiting.refresh_from_db()
    assert waiting.status == "pending"  # the big file took no mates


def test_a_batch_mate_already_imported_is_skipped_by_its_own_task(tmp_path):
    first, mate = _orders_file(tmp_path, 0), _orders_file(tmp_path, 1)
    import_with_batch_mates(first.pk, limit=10)
    again = import_with_batch_mates(mate.pk, limit=10)
    assert again.skipped_reason == "already imported"
    assert ImportAttempt.objects.filter(import_file=mate).count() == 1


@pytest.mark.postgres
def test_two_workers_racing_over_the_same_files_import_each_exactly_once(tmp_path):
    files = [_orders_file(tmp_path, n, lines=5) for n in range(60)]
    errors: list[str] = []

    def worker(order: list[ImportFile]) -> None:
        try:
            for f in order:
                for _ in range(500):
                    try:
                        import_with_batch_mates(f.pk, trigger="task", limit=8)
                        break
                    except ImportBusy:
                        time.sleep(0.005)
                else:
                    errors.append(f"file {f.pk}: busy for too long")
        except Exception as exc:
            errors.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(files,)), threading.Thread(target=worker, args=(files[::-1],))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert errors == []
    assert set(ImportFile.objects.values_list("status", flat=True)) == {"imported"}
    per_file = list(ImportAttempt.objects.values_list("import_file_id", "status"))
    assert sorted(pk for pk, _ in per_file) == sorted(f.pk for f in files)  # one attempt each
    assert {status for _, status in per_file} == {"imported"}
    assert Order.objects.count() == 60 * 5
    batch_mates = ImportAttempt.objects.filter(trigger="batch").count()
    assert batch_mates > 0
