"""The ImportFile lifecycle: one module writes every status, a lost delivery is counted once, and on
PostgreSQL a running file whose importer's connection died is found at once by its free row lock."""

from __future__ import annotations

import ast
import re
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection, connections, transaction
from django.utils import timezone

from ingest.models import ImportFile, ImportStatus
from ingest.services.importing import lifecycle
from ingest.services.importing.lifecycle import Lost

INGEST = Path(__file__).resolve().parents[3] / "ingest"
LIFECYCLE = INGEST / "services" / "importing" / "lifecycle.py"
WRITERS = {"update", "create", "get_or_create", "update_or_create", "bulk_create", "bulk_update"}
MODELS = {"ImportFile", "ImportAttempt"}
pytestmark = pytest.mark.django_db(transaction=True)

SQL_STATUS_WRITE = re.compile(r"\b(set|insert\s+into)\b.*\bstatus\b", re.IGNORECASE | re.DOTALL)


def _root_name(node: ast.expr) -> str:
    """The name a call chain starts from: ``FailedRecord`` in ``FailedRecord.objects.filter().update()``."""
    while True:
        if isinstance(node, ast.Attribute):
            node = node.value
        elif isinstance(node, ast.Call):
            node = node.func
        else:
            return node.id if isinstance(node, ast.Name) else ""


def _another_model(func: ast.expr) -> bool:
    """A write through a model class other than ImportFile/ImportAttempt (a failed record has a
    status of its own); querysets held in variables still count, whatever they hold."""
    root = _root_name(func)
    return root[:1].isupper() and root not in MODELS


def status_writes(source: str) -> list[int]:
    """Line numbers where ``source`` writes an import's ``status``: an ORM write or a model built with
    one, ``defaults={"status": …}``, an assignment to ``.status``, or SQL that sets it."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if (name in WRITERS and not _another_model(func)) or name in MODELS:
                for keyword in node.keywords:
                    in_dict = isinstance(keyword.value, ast.Dict) and any(
                        isinstance(key, ast.Constant) and key.value == "status" for key in keyword.value.keys
                    )
                    if keyword.arg == "status" or in_dict:
                        found.append(node.lineno)
        elif isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Attribute) and t.attr == "status" for t in targets):
                found.append(node.lineno)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and SQL_STATUS_WRITE.search(node.value):
            found.append(node.lineno)
    return sorted(set(found))


def test_the_checker_sees_each_way_of_writing_a_status():
    source = """
ImportFile.objects.filter(pk=1).update(status="failed")
ImportAttempt.objects.create(import_file=f, status=ImportStatus.RUNNING)
ImportFile.objects.update_or_create(key=k, defaults={"status": "pending"})
ImportFile(key=k, status="running")
f.status = "imported"
cursor.execute("UPDATE ingest_importfile SET status = 'pending' WHERE id = %s", [1])
ImportFile.objects.filter(status="pending").values_list("pk", flat=True)
outcome = ImportOutcome(f.pk, f.status)
FailedRecord.objects.filter(pk=1).update(status="redriven")
"""
    assert status_writes(source) == [2, 3, 4, 5, 6, 7]


def test_no_status_is_written_outside_the_lifecycle_module():
    offenders = {
        str(path.relative_to(INGEST.parent)): lines
        for path in sorted(INGEST.rglob("*.py"))
        if path != LIFECYCLE and "migrations" not in path.parts
        for lines in [status_writes(path.read_text())]
        if lines
    }
    assert offenders == {}, f"status written outside ingest/services/importing/lifecycle.py: {offenders}"
    assert status_writes(LIFECYCLE.read_text())  # the lifecycle does write them (the check can see it)


def make_file(key: str, **fields) -> ImportFile:
    f = ImportFile.objects.create(bucket="b", key=key, etag="e", stream="orders")
    ImportFile.objects.filter(pk=f.pk).update(**fields)
    f.refresh_from_db()
    return f


def test_a_lost_delivery_is_counted_once_then_given_up(settings):
    settings.INGEST_MAX_REDELIVERIES = 2
    f = make_file("orders/a", status=ImportStatus.RUNNING)
    assert lifecycle.note_lost_delivery(f.pk) is Lost.REQUEUED
    # A second report of the same loss (the sweep and the redelivered task both saw it) counts nothing.
    assert lifecycle.note_lost_delivery(f.pk) is Lost.NOT_LOST
    f.refresh_from_db()
    assert (f.status, f.redeliveries) == (ImportStatus.PENDING, 1)

    ImportFile.objects.filter(pk=f.pk).update(status=ImportStatus.RUNNING)
    assert lifecycle.note_lost_delivery(f.pk) is Lost.REQUEUED
    ImportFile.objects.filter(pk=f.pk).update(status=ImportStatus.RUNNING)
    assert lifecycle.note_lost_delivery(f.pk) is Lost.GAVE_UP
    f.refresh_from_db()
    assert f.status == ImportStatus.FAILED and f.redeliveries == 3
    assert f.error_message.startswith("gave up after 3 lost deliveries")
    assert list(f.attempts.values_list("status", flat=True)) == [ImportStatus.FAILED]
    assert lifecycle.note_lost_delivery(987654) is Lost.MISSING


def test_an_imported_file_is_not_lost_and_not_failed():
    f = make_file("orders/done", status=ImportStatus.IMPORTED)
    assert lifecycle.note_lost_delivery(f.pk) is Lost.NOT_LOST
    assert lifecycle.fail(f.pk, "too late").skipped_reason == "already imported"
    f.refresh_from_db()
    assert f.status == ImportStatus.IMPORTED and f.redeliveries == 0


def test_reset_for_reimport_puts_any_file_back_to_pending():
    f = make_file("orders/failed", status=ImportStatus.FAILED, redeliveries=4, error_message="boom")
    assert lifecycle.reset_for_reimport(f.pk, enqueue=False) == ""
    f.refresh_from_db()
    assert (f.status, f.redeliveries, f.error_message, f.enqueued_at) == (ImportStatus.PENDING, 0, "", None)
    assert lifecycle.reset_for_reimport(987654, enqueue=False) == "no such file"


def test_sqlite_keeps_the_timer_for_running_files(settings):
    if connection.vendor == "postgresql":
        pytest.skip("PostgreSQL uses the importer's row lock (tests below)")
    settings.CELERY_TASK_TIME_LIMIT = 60
    recent = make_file("orders/recent", status=ImportStatus.RUNNING)
    old = make_file("orders/old", status=ImportStatus.RUNNING)
    ImportFile.objects.filter(pk=old.pk).update(updated_at=timezone.now() - timedelta(seconds=200))
    found = lifecycle.requeue_orphans(max_redeliveries=5, abandoned_after=120)
    assert (found.requeued, found.gave_up) == ([old.pk], [])
    recent.refresh_from_db()
    assert recent.status == ImportStatus.RUNNING


class Importer:
    """Another connection holding a file's row lock, as the importing worker does."""

    def __init__(self, pk: int) -> None:
        self.pk = pk
        self.locked = threading.Event()
        self.release = threading.Event()
        self.backend_pid: int | None = None
        self.thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        try:
            with transaction.atomic():
                lifecycle.claim(self.pk)
                self.backend_pid = connection.connection.info.backend_pid
                self.locked.set()
                self.release.wait(20)
        except Exception:  # its connection is killed on purpose in one test
            pass
        finally:
            connections.close_all()

    def __enter__(self) -> Importer:
        self.thread.start()
        assert self.locked.wait(10)
        return self

    def __exit__(self, *exc) -> None:
        self.release.set()
        self.thread.join(20)


@pytest.mark.postgres
def test_a_running_file_is_given_back_as_soon_as_its_importers_connection_dies():
    f = make_file("orders/importing", status=ImportStatus.RUNNING)
    ImportFile.objects.filter(pk=f.pk).update(updated_at=timezone.now() - timedelta(seconds=5))
    with Importer(f.pk) as importer:
        # Alive: the sweep's SKIP LOCKED passes over it, however long it has been running.
        assert lifecycle.requeue_orphans(max_redeliveries=5, abandoned_after=3600).requeued == []
        with connection.cursor() as cursor:  # the importer's process dies: its connection goes with it
            # Waits (up to 10 s) until the backend is gone, and its locks with it.
            cursor.execute("SELECT pg_terminate_backend(%s, 10000)", [importer.backend_pid])
        found = lifecycle.requeue_orphans(max_redeliveries=5, abandoned_after=3600)
    assert found.requeued == [f.pk]
    f.refresh_from_db()
    assert (f.status, f.redeliveries) == (ImportStatus.PENDING, 1)


@pytest.mark.postgres
def test_a_file_just_shown_running_is_not_taken_for_abandoned():
    """Between showing the file running and taking its lock, a worker holds nothing: a short grace."""
    f = make_file("orders/starting", status=ImportStatus.PENDING)
    lifecycle.show_running(f.pk)
    assert lifecycle.requeue_orphans(max_redeliveries=5, abandoned_after=3600).requeued == []
    ImportFile.objects.filter(pk=f.pk).update(updated_at=timezone.now() - timedelta(seconds=10))
    assert lifecycle.requeue_orphans(max_redeliveries=5, abandoned_after=3600).requeued == [f.pk]


@pytest.mark.postgres
def test_a_redelivered_task_of_a_file_still_being_imported_counts_no_loss():
    f = make_file("orders/alive", status=ImportStatus.RUNNING)
    with Importer(f.pk):
        assert lifecycle.note_lost_delivery(f.pk) is Lost.NOT_LOST
    f.refresh_from_db()
    assert (f.status, f.redeliveries) == (ImportStatus.RUNNING, 0)


def test_an_attempt_of_a_file_waiting_for_its_retry_is_a_retry_whichever_message_brought_it():
    """The consumer's check of due retries, the sweep and a redelivered message all send a plain task:
    the attempt of a file with a retry recorded says ``retry``; an operator's ``reimport`` says so."""
    f = make_file("orders/retried", status=ImportStatus.PENDING, retries=2)
    lifecycle.fail(f.pk, "S3 went away", trigger="task")
    g = make_file("orders/reimported", status=ImportStatus.PENDING, retries=2)
    lifecycle.fail(g.pk, "S3 went away", trigger="reimport")
    h = make_file("orders/first", status=ImportStatus.PENDING)
    lifecycle.fail(h.pk, "S3 went away", trigger="task")
    assert [list(x.attempts.values_list("trigger", flat=True)) for x in (f, g, h)] == [
        ["retry"],
        ["reimport"],
        ["task"],
    ]
