"""What a small file's import costs in statements, and that the cheaper bookkeeping keeps its meaning:
the attempt is written once, line errors still point to it, a reset sets the stream with the status,
and a file another worker holds is neither waited for nor reset."""

from __future__ import annotations

import pytest
from django.db import InterfaceError, OperationalError, connection, connections, transaction
from django.test.utils import CaptureQueriesContext

from ingest.models import ImportAttempt, ImportFile, ImportLineError, ImportStatus
from ingest.services.importing import lifecycle
from ingest.services.importing.run import import_file
from ingest.services.intake.registration import register_local_file
from ingest.testing.database import held_by_another_worker
from ingest.testing.imports import register_and_import
from tests.ingest.importing.test_run import ev, order, write

pytestmark = pytest.mark.django_db(transaction=True)


def _statements(captured: CaptureQueriesContext, prefix: str) -> list[str]:
    return [q["sql"] for q in captured.captured_queries if q["sql"].lstrip().upper().startswith(prefix)]


def test_a_clean_file_inserts_its_attempt_once_with_its_final_values(tmp_path):
    path = write(tmp_path, "orders", [ev("orders", {"orderNumber": f"SO-{n}"}, order(f"SO-{n}")) for n in range(3)])
    f, _ = register_local_file(path)
    with CaptureQueriesContext(connection) as captured:
        outcome = import_file(f.pk, trigger="test")
    assert outcome.status == ImportStatus.IMPORTED
    assert len(_statements(captured, 'INSERT INTO "INGEST_IMPORTATTEMPT"')) == 1
    assert _statements(captured, 'UPDATE "INGEST_IMPORTATTEMPT"') == []
    attempt = ImportAttempt.objects.get(import_file=f)
    assert (attempt.status, attempt.number, attempt.lines_total, attempt.rows_created) == ("imported", 1, 3, 3)
    assert attempt.finished_at is not None and attempt.duration_seconds is not None
    f.refresh_from_db()
    assert (f.status, f.attempts_count, f.rows_created) == ("imported", 1, 3)


def test_line_errors_point_to_the_attempt_written_for_them(tmp_path):
    good = ev("orders", {"orderNumber": "SO-1"}, order("SO-1"))
    path = write(tmp_path, "orders", [good], raw=b"this is not a System One line\n")
    f, outcome = register_and_import(path)
    assert outcome.status == ImportStatus.IMPORTED_WITH_ERRORS
    attempt = ImportAttempt.objects.get(import_file=f)
    assert (attempt.status, attempt.lines_total, attempt.errors_count) == ("imported_with_errors", 2, 1)
    assert list(ImportLineError.objects.filter(import_file=f).values_list("attempt_id", flat=True)) == [attempt.pk]


def test_a_dry_run_leaves_no_attempt(tmp_path):
    path = write(tmp_path, "orders", [ev("orders", {"orderNumber": "SO-1"}, order("SO-1"))])
    f, outcome = register_and_import(path, dry_run=True)
    assert outcome.ran and outcome.counts["rows_created"] == 1
    assert not ImportAttempt.objects.filter(import_file=f).exists()


def test_a_reset_sets_the_stream_with_the_status():
    f = ImportFile.objects.create(
        bucket="b", key="x/1", etag="1", status="failed", error_message="boom", redeliveries=2
    )
    assert lifecycle.reset_for_reimport(f.pk, enqueue=True, stream="orders") == ""
    f.refresh_from_db()
    assert (f.status, f.stream, f.error_message, f.redeliveries) == ("pending", "orders", "", 0)
    assert f.enqueued_at is not None
    assert lifecycle.reset_for_reimport(f.pk, enqueue=False) == ""
    f.refresh_from_db()
    assert (f.stream, f.enqueued_at) == ("orders", None)  # no stream given: the one it had stays
    assert lifecycle.reset_for_reimport(f.pk + 1000, enqueue=False) == "no such file"


@pytest.mark.postgres
def test_show_running_is_one_statement_and_does_not_wait_for_a_held_file():
    f = ImportFile.objects.create(bucket="b", key="orders/1", etag="1", status="pending")
    with CaptureQueriesContext(connection) as captured:
        lifecycle.show_running(f.pk)
    assert [q["sql"].split()[0] for q in captured.captured_queries] == ["UPDATE"]
    f.refresh_from_db()
    assert f.status == "running"

    other = ImportFile.objects.create(bucket="b", key="orders/2", etag="2", status="pending")
    with held_by_another_worker(other.pk):
        lifecycle.show_running(other.pk)  # would block until the lock goes if it waited
        other.refresh_from_db()
        assert other.status == "pending"


@pytest.mark.postgres
def test_a_held_file_is_not_reset_and_the_callers_transaction_survives():
    f = ImportFile.objects.create(bucket="b", key="orders/1", etag="1", status="running")
    with held_by_another_worker(f.pk), transaction.atomic():
        assert lifecycle.reset_for_reimport(f.pk, enqueue=False) == "being imported right now"
        assert ImportFile.objects.filter(pk=f.pk).count() == 1  # the transaction still works
    f.refresh_from_db()
    assert f.status == "running"


class _Request:
    is_eager = False


class _Task:
    request = _Request()


@pytest.mark.postgres
def test_a_worker_keeps_its_connection_between_tasks_and_replaces_a_broken_one(settings):
    from celery.fixups.django import DjangoWorkerFixup

    from website.celery import _database_connections, app

    # Celery's own fixup would close every connection around every task: held off.
    fixup = DjangoWorkerFixup(app)
    assert fixup.db_reuse_max
    settings.DATABASES["default"]["CONN_MAX_AGE"] = 600
    connection.settings_dict["CONN_MAX_AGE"] = 600
    try:
        connection.close()
        connection.ensure_connection()
        kept = connection.connection
        for _ in range(3):
            _database_connections(sender=_Task())  # task_prerun
            fixup.on_task_prerun(sender=_Task())
            ImportFile.objects.count()
            _database_connections(sender=_Task())  # task_postrun
            fixup.on_task_postrun(sender=_Task())
        assert connection.connection is kept

        # The database drops it (a restart): the task that meets it fails, the next gets a new one.
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            pid = cursor.fetchone()[0]
        other = connections.create_connection("default")
        try:
            with other.cursor() as cursor:
                cursor.execute("SELECT pg_terminate_backend(%s, 10000)", [pid])  # returns once it is gone
        finally:
            other.close()
        with pytest.raises((OperationalError, InterfaceError)):
            ImportFile.objects.count()
        _database_connections(sender=_Task())
        assert ImportFile.objects.count() >= 0 and connection.connection is not kept
    finally:
        connection.settings_dict["CONN_MAX_AGE"] = 0
        connection.close()


@pytest.mark.postgres  # SQLite's in-memory test database is never closed
def test_without_a_max_age_a_worker_closes_its_connection_after_each_task():
    from website.celery import _database_connections

    assert connection.settings_dict["CONN_MAX_AGE"] == 0
    ImportFile.objects.count()
    assert connection.connection is not None
    _database_connections(sender=_Task())
    assert connection.connection is None
