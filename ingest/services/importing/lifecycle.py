"""The life of an ImportFile, in one place: every write of a file's or an attempt's status is here
and nowhere else (tests/ingest/importing/test_lifecycle.py reads the code of ingest/ to keep it so).

    pending ──show_running──▶ running ──finish──▶ imported | imported_with_errors
       ▲                         │
       ├── note_transient_failure┤   (S3, network, database unwell: the task retries later;
       │     retry_later          │    the retry is due at ``retry_due_at``, sent by the consumer)
       ├── note_lost / orphans ──┘   (its importer died: one more lost delivery; failed after N)
       └── reset_for_reimport        (from any status, unless someone is importing it right now)
    any ──fail──▶ failed             (a permanent error, retries or lost deliveries used up)

Whoever imports a file holds its row lock (``FOR UPDATE NOWAIT``) for the whole import
transaction. On PostgreSQL that lock is also the importer's heartbeat: it dies with the
importer's connection (process killed; machine gone, once TCP keepalives give up), so a
``running`` file whose row can be locked has nobody importing it and is given back at once,
without waiting for the broker's visibility timeout. SQLite cannot show another process's
locks: there a running file counts as abandoned only after the task's hard time limit.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum

from django.conf import settings
from django.db import OperationalError, connection, transaction
from django.db.models import DateTimeField, ExpressionWrapper, Q
from django.db.models.functions import Now
from django.utils import timezone

from ingest.models import DONE_STATUSES, ImportAttempt, ImportFile, ImportStatus
from ingest.services.importing import hooks
from ingest.services.importing.exceptions import ImportBusy, is_lock_busy

logger = logging.getLogger(__name__)

TERMINAL_STATUSES = (*DONE_STATUSES, ImportStatus.FAILED)
# A worker shows a file running, commits, and takes its row lock in the very next statement:
# a running file younger than this may be in that instant, and is not taken for abandoned.
ORPHAN_GRACE_SECONDS = 2.0
LOST_HINT = "its importer died each time (out of memory? killed? hard time limit?)"


@dataclass
class ImportOutcome:
    import_file_id: int
    status: str
    ran: bool = False
    dry_run: bool = False
    skipped_reason: str = ""
    counts: dict[str, int] = field(default_factory=dict)
    error: str = ""

    @property
    def failed(self) -> bool:
        return self.status == ImportStatus.FAILED


class Lost(Enum):
    NOT_LOST = "not lost"  # nobody lost it: not running, or its importer is alive
    REQUEUED = "requeued"  # counted, back to pending
    GAVE_UP = "gave up"  # counted one time too many: failed
    MISSING = "missing"  # no such file


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _rows_show_locks() -> bool:
    return connection.vendor == "postgresql"


# --- importing ----------------------------------------------------------------------------------
def show_running(import_file_id: int) -> None:
    """Show the file as running (committed, for the admin and the sweep). A row locked by the worker
    importing it is skipped rather than waited for: ``claim`` then answers ImportBusy at once."""
    if _rows_show_locks():
        # One autocommit statement, one round trip: no BEGIN, no separate SELECT, no COMMIT to wait
        # for (a small file paid four round trips here). The database's clock: the sweep compares
        # it with its own, on another machine.
        with connection.cursor() as cursor:
            cursor.execute(_SHOW_RUNNING_SQL, [ImportStatus.RUNNING, timezone.now(), import_file_id, *_OPEN])
        return
    with transaction.atomic():
        ImportFile.objects.filter(pk=import_file_id, status__in=_OPEN).update(
            status=ImportStatus.RUNNING, started_at=timezone.now(), updated_at=Now()
        )


_OPEN = [ImportStatus.PENDING, ImportStatus.RUNNING]
_SHOW_RUNNING_SQL = (
    "UPDATE ingest_importfile SET status = %s, started_at = %s, updated_at = STATEMENT_TIMESTAMP()"
    " WHERE id = (SELECT id FROM ingest_importfile WHERE id = %s AND status IN (%s, %s)"
    " FOR UPDATE SKIP LOCKED)"
)


def claim(import_file_id: int) -> ImportFile:
    """Lock the file for this transaction, the import's; ImportBusy if another worker holds it."""
    try:
        return ImportFile.objects.select_for_update(nowait=True).get(pk=import_file_id)
    except OperationalError as exc:
        if is_lock_busy(exc):
            raise ImportBusy(f"file {import_file_id} is being imported by another worker") from exc
        raise


def attempt_trigger(f: ImportFile, trigger: str) -> str:
    """What an attempt records as its trigger. A file with a retry recorded (``retries``) is being
    retried, whichever message brought it: the consumer's check of due retries, the sweep, or the
    broker handing back the message of a worker that died. Only the plain ``task`` is renamed: an
    operator's ``reimport`` says so."""
    return "retry" if trigger == "task" and f.retries else trigger


class Attempt:
    """The attempt of an import in progress, written once: at the end with its final values, or
    earlier only if a line error needs a row to point to (then updated at the end). Inside the
    import's transaction nobody else can see it either way; this saves a small file a round trip."""

    def __init__(self, f: ImportFile, *, trigger: str, task_id: str, dry_run: bool, started: datetime) -> None:
        self.row = ImportAttempt(
            import_file=f,
            number=f.attempts_count + 1,
            trigger=attempt_trigger(f, trigger),
            status=ImportStatus.RUNNING,
            worker=worker_name(),
            task_id=task_id or "",
            dry_run=dry_run,
            started_at=started,
        )

    @property
    def number(self) -> int:
        return self.row.number

    def saved(self) -> ImportAttempt:
        """The attempt's row, inserted (still running) if it was not yet."""
        if self.row.pk is None:
            self.row.save(force_insert=True)
        return self.row


def start_attempt(f: ImportFile, *, trigger: str, task_id: str, dry_run: bool, started: datetime) -> Attempt:
    return Attempt(f, trigger=trigger, task_id=task_id, dry_run=dry_run, started=started)


def finish(f: ImportFile, attempt: Attempt, *, counts: dict[str, int], started: datetime, duration: float) -> str:
    """Record a completed run on the attempt and the file (in the import's transaction); its status."""
    finished = timezone.now()
    status = ImportStatus.IMPORTED_WITH_ERRORS if counts.get("errors_count") else ImportStatus.IMPORTED
    if attempt.row.pk is None:
        row = attempt.row
        row.status = status
        row.finished_at = finished
        row.duration_seconds = duration
        for name, value in counts.items():
            setattr(row, name, value)
        row.save(force_insert=True)
    else:
        ImportAttempt.objects.filter(pk=attempt.row.pk).update(
            status=status, finished_at=finished, duration_seconds=duration, **counts
        )
    # The lag is that of the first import; a re-import weeks later says nothing about it.
    lag = _lag_seconds(f, finished) if f.lag_seconds is None else f.lag_seconds
    ImportFile.objects.filter(pk=f.pk).update(
        status=status,
        attempts_count=attempt.number,
        started_at=started,
        finished_at=finished,
        duration_seconds=duration,
        lag_seconds=lag,
        error_message="",
        retries=0,
        retry_due_at=None,
        updated_at=finished,
        **counts,
    )
    # The caller's copy says what was recorded (the import's hooks read it, without a query).
    f.finished_at, f.lag_seconds = finished, lag
    return status


def _lag_seconds(f: ImportFile, finished: datetime) -> float | None:
    origin = f.s3_event_time or f.received_at or f.created_at
    return max(0.0, (finished - origin).total_seconds()) if origin else None


def _fail_locked(f: ImportFile, message: str, *, trigger: str, task_id: str) -> ImportOutcome:
    now = timezone.now()
    number = f.attempts_count + 1
    ImportAttempt.objects.create(
        import_file=f,
        number=number,
        trigger=attempt_trigger(f, trigger),
        status=ImportStatus.FAILED,
        worker=worker_name(),
        task_id=task_id or "",
        started_at=f.started_at or now,
        finished_at=now,
        error_message=message,
    )
    ImportFile.objects.filter(pk=f.pk).update(
        status=ImportStatus.FAILED,
        error_message=message,
        attempts_count=number,
        finished_at=now,
        updated_at=now,
        retry_due_at=None,
    )
    hooks.failed(f.stream)
    logger.error("import of file %s failed: %s", f.pk, message)
    return ImportOutcome(f.pk, ImportStatus.FAILED, ran=True, error=message)


def fail(import_file_id: int, message: str, *, trigger: str = "task", task_id: str = "") -> ImportOutcome:
    """Record a permanent failure: status ``failed`` with the error, and an attempt that says so."""
    with transaction.atomic():
        f = ImportFile.objects.select_for_update().get(pk=import_file_id)
        if f.status in DONE_STATUSES:
            return ImportOutcome(f.pk, f.status, skipped_reason=f"already {f.status}")
        return _fail_locked(f, message, trigger=trigger, task_id=task_id)


def note_transient_failure(import_file_id: int, message: str, *, retry_within: float = 0.0) -> None:
    """Back to pending with the error shown, unless the file got imported meanwhile. A retry that is
    due within ``retry_within`` seconds keeps the sweep away from the file until then."""
    now = timezone.now()
    scheduled = {"enqueued_at": now + timedelta(seconds=retry_within)} if retry_within > 0 else {}
    ImportFile.objects.filter(pk=import_file_id, status__in=[ImportStatus.PENDING, ImportStatus.RUNNING]).update(
        status=ImportStatus.PENDING, error_message=f"will retry: {message}", updated_at=now, **scheduled
    )


def retry_later(
    import_file_id: int,
    message: str,
    *,
    retries: int,
    max_retries: int,
    countdown: Callable[[int], float],
    trigger: str = "retry",
    task_id: str = "",
) -> float | None:
    """Record that the file is to be tried again after a transient failure: its retry count and when
    the retry is due, in the database, where the consumer's check finds it and sends the task again.
    Nothing is held inside a worker, so a worker that dies costs no retry and no wait.

    ``retries``: the tries the caller knows of (a Celery retry count, from an older release); the
    larger of it and the file's own count is used. Returns the countdown, 0.0 when there is nothing
    to retry (imported meanwhile, or being imported by another worker right now), None when the
    retries are used up: the file is then ``failed`` with the error."""
    with transaction.atomic():
        try:
            f = ImportFile.objects.select_for_update(nowait=True).filter(pk=import_file_id).first()
        except OperationalError as exc:
            if is_lock_busy(exc):
                return 0.0  # another worker is importing it now: that import is the retry
            raise
        if f is None or f.status not in _OPEN:
            return 0.0
        used = max(f.retries, retries)
        if used >= max_retries:
            _fail_locked(f, f"gave up after {used + 1} attempts: {message}", trigger=trigger, task_id=task_id)
            return None
        wait = countdown(used)
        now = timezone.now()
        due = now + timedelta(seconds=wait)
        ImportFile.objects.filter(pk=f.pk).update(
            status=ImportStatus.PENDING,
            error_message=f"will retry: {message}",
            retries=used + 1,
            retry_due_at=due,
            enqueued_at=due,
            updated_at=now,
        )
        return wait


def take_due_retries(*, limit: int = 1000) -> list[int]:
    """The pending files whose retry is due, marked as sent (run it in the transaction that sends
    their tasks: if the send fails the consumer clears ``enqueued_at`` and the sweep rings them)."""
    now = timezone.now()
    due = list(
        ImportFile.objects.filter(status=ImportStatus.PENDING, retry_due_at__lte=now)
        .order_by("retry_due_at")
        .values_list("pk", flat=True)[:limit]
    )
    if due:
        ImportFile.objects.filter(pk__in=due, status=ImportStatus.PENDING).update(retry_due_at=None, enqueued_at=now)
    return due


def schedule_retry(import_file_id: int, countdown: float) -> None:
    """The file counts as enqueued from the moment its retry is due: the sweep does not ring meanwhile."""
    ImportFile.objects.filter(pk=import_file_id, status__in=[ImportStatus.PENDING, ImportStatus.RUNNING]).update(
        enqueued_at=timezone.now() + timedelta(seconds=countdown)
    )


# --- lost deliveries ----------------------------------------------------------------------------
def _count_lost(f: ImportFile, *, max_redeliveries: int, trigger: str, task_id: str = "") -> Lost:
    """The one rule for a file whose importer died (``f`` locked by the caller): count it, give up after N."""
    count = f.redeliveries + 1
    if count > max_redeliveries:
        ImportFile.objects.filter(pk=f.pk).update(redeliveries=count)
        f.redeliveries = count
        _fail_locked(f, f"gave up after {count} lost deliveries: {LOST_HINT}", trigger=trigger, task_id=task_id)
        return Lost.GAVE_UP
    ImportFile.objects.filter(pk=f.pk).update(status=ImportStatus.PENDING, redeliveries=count, updated_at=Now())
    return Lost.REQUEUED


def note_lost_delivery(import_file_id: int, *, task_id: str = "", max_redeliveries: int | None = None) -> Lost:
    """A task that the broker delivered again (its first worker was lost) reports it here.

    Counted once per loss: only a file still ``running`` with nobody holding its lock was lost (the
    sweep may have counted it already, and then it is pending)."""
    limit = settings.INGEST_MAX_REDELIVERIES if max_redeliveries is None else max_redeliveries
    with transaction.atomic():
        try:
            f = ImportFile.objects.select_for_update(nowait=True).filter(pk=import_file_id).first()
        except OperationalError as exc:
            if is_lock_busy(exc):
                return Lost.NOT_LOST  # its importer is alive: this delivery will find it busy
            raise
        if f is None:
            return Lost.MISSING
        if f.status != ImportStatus.RUNNING:
            return Lost.NOT_LOST
        return _count_lost(f, max_redeliveries=limit, trigger="task", task_id=task_id)


@dataclass
class Orphans:
    requeued: list[int] = field(default_factory=list)
    gave_up: list[int] = field(default_factory=list)


def requeue_orphans(*, max_redeliveries: int, abandoned_after: float, limit: int = 1000) -> Orphans:
    """Running files whose importer is gone, back to pending (each a lost delivery) or failed.

    PostgreSQL: one query, ``FOR UPDATE SKIP LOCKED`` over running files, skips every file a live
    importer holds; what it returns has nobody. SQLite: a running file not touched for
    ``abandoned_after`` seconds, and at least the task's hard time limit, counts as abandoned."""
    found = Orphans()
    with transaction.atomic():
        running = ImportFile.objects.filter(status=ImportStatus.RUNNING)
        if _rows_show_locks():
            # A free lock is proof enough, even with a retry scheduled (a duplicate that found the
            # dying importer busy): the loss is counted now, and the retry finds the file imported.
            grace = ExpressionWrapper(Now() - timedelta(seconds=ORPHAN_GRACE_SECONDS), output_field=DateTimeField())
            running = running.filter(updated_at__lt=grace).select_for_update(skip_locked=True)
        else:
            quiet = max(abandoned_after, settings.CELERY_TASK_TIME_LIMIT + 60)
            running = running.filter(
                Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=timezone.now()),  # no retry scheduled
                updated_at__lt=timezone.now() - timedelta(seconds=quiet),
            )
        for f in running.order_by("pk")[:limit]:
            lost = _count_lost(f, max_redeliveries=max_redeliveries, trigger="sweep")
            (found.requeued if lost is Lost.REQUEUED else found.gave_up).append(f.pk)
    if found.requeued or found.gave_up:
        logger.warning(
            "%s running file(s) had lost their importer: requeued %s, gave up on %s",
            len(found.requeued) + len(found.gave_up),
            found.requeued[:20],
            found.gave_up[:20],
        )
    return found


# --- re-importing -------------------------------------------------------------------------------
def reset_for_reimport(import_file_id: int, *, enqueue: bool, stream: str = "") -> str:
    """Back to pending (history kept), with ``stream`` as its stream if given; '' or why the file was
    left alone."""
    now = timezone.now()
    enqueued_at = now if enqueue else None
    try:
        if _rows_show_locks():
            # One statement, one round trip, instead of BEGIN, SELECT, UPDATE, COMMIT: a backfill
            # resets thousands of files one after the other. Inside a caller's transaction a
            # savepoint keeps a busy lock from breaking it.
            savepoint = transaction.atomic() if connection.in_atomic_block else nullcontext()
            with savepoint, connection.cursor() as cursor:
                cursor.execute(_RESET_SQL, [ImportStatus.PENDING, enqueued_at, now, stream or None, import_file_id])
                return "" if cursor.rowcount else "no such file"
        with transaction.atomic():
            f = ImportFile.objects.select_for_update(nowait=True).filter(pk=import_file_id).first()
            if f is None:
                return "no such file"
            ImportFile.objects.filter(pk=f.pk).update(
                status=ImportStatus.PENDING,
                error_message="",
                redeliveries=0,
                retries=0,
                retry_due_at=None,
                enqueued_at=enqueued_at,
                updated_at=now,
                **({"stream": stream} if stream else {}),
            )
    except OperationalError as exc:
        if is_lock_busy(exc):
            # The importer holds the row lock for its whole transaction: it is being imported now.
            return "being imported right now"
        raise
    return ""


_RESET_SQL = (
    "UPDATE ingest_importfile SET status = %s, error_message = '', redeliveries = 0, retries = 0,"
    " retry_due_at = NULL, enqueued_at = %s,"
    " updated_at = %s, stream = COALESCE(%s, stream)"
    " WHERE id = (SELECT id FROM ingest_importfile WHERE id = %s FOR UPDATE NOWAIT)"
)


def record_repair_file(*, bucket: str, key: str, etag: str, registered_by: str) -> ImportFile:
    """An ImportFile standing for rows written outside an import (a reconciliation's repairs): the
    rows name it as their last import. Done from the start, so no sweep ever imports it; no stream,
    so a stream's freshness stays that of its imports."""
    now = timezone.now()
    return ImportFile.objects.create(
        bucket=bucket,
        key=key,
        etag=etag,
        status=ImportStatus.IMPORTED,
        registered_by=registered_by,
        received_at=now,
        started_at=now,
        finished_at=now,
    )
