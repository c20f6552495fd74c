"""Importing one registered file into the website tables, exactly once.

A file is imported in ONE database transaction: its rows, its line errors, its attempt and
its final status commit together or not at all, so a worker killed half-way leaves no
partial rows and the file is simply imported again. The transaction starts by locking the
ImportFile row (``FOR UPDATE NOWAIT`` on PostgreSQL; SQLite's write lock does the same):
whoever holds it is the one importer of that file, and a second delivery of the same task
finds either the lock taken (``ImportBusy``) or the file already imported (skipped).
"""

from __future__ import annotations

import logging
import os
import queue
import random
import socket
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.db import DatabaseError, OperationalError, connection, transaction
from django.utils import timezone

from ingest.models import DONE_STATUSES, ImportAttempt, ImportFile, ImportLineError, ImportStatus
from ingest.services.gil import short_switch_interval
from ingest.services.loading import BatchCounts, apply_batch
from ingest.services.parsing import LineParser, LineRejected, raw_text
from ingest.services.sources import SourceMissing, open_source
from transforms.streams import STREAM_NAMES, STREAMS
from transforms.system_one.reader import iter_lines

logger = logging.getLogger(__name__)

# More than this many line errors in one attempt are counted but not all stored.
MAX_STORED_LINE_ERRORS = 10_000
# Deadlocks and serialisation failures between concurrent imports are retried here, at once.
CONFLICT_RETRIES = 8


class ImportBusy(Exception):
    """Another worker holds this file's lock right now."""


class TransientImportError(Exception):
    """The import failed for a reason that may pass (network, S3, database): retry later."""


class PermanentImportError(Exception):
    """The file cannot be imported as it is; retrying will not help."""


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


@dataclass
class _Run:
    lines_total: int = 0
    errors_count: int = 0
    counts: BatchCounts = field(default_factory=BatchCounts)

    def as_fields(self) -> dict[str, int]:
        return {
            "lines_total": self.lines_total,
            "rows_created": self.counts.created,
            "rows_updated": self.counts.updated,
            "rows_stale": self.counts.stale,
            "rows_deleted": self.counts.deleted,
            "placeholders_created": self.counts.placeholders,
            "errors_count": self.errors_count,
        }


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def sqlstate(exc: BaseException) -> str | None:
    """PostgreSQL's SQLSTATE of a database error (Django's wrapper or psycopg's own); None elsewhere."""
    cause = exc.__cause__ or exc
    return getattr(cause, "sqlstate", None) or getattr(getattr(cause, "diag", None), "sqlstate", None)


def _is_conflict(exc: BaseException) -> bool:
    """Deadlock or serialisation failure between two transactions."""
    return sqlstate(exc) in {"40P01", "40001"}


def is_lock_busy(exc: BaseException) -> bool:
    """``NOWAIT`` found the row locked (lock_not_available)."""
    return sqlstate(exc) == "55P03"


def is_transient(exc: BaseException) -> bool:
    """Errors worth retrying later: the database, the network or S3 being unwell."""
    if isinstance(exc, TransientImportError | OperationalError):
        return True
    from botocore.exceptions import BotoCoreError, ClientError, ConnectionError, HTTPClientError

    if isinstance(exc, ConnectionError | HTTPClientError):
        return True
    if isinstance(exc, ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        code = exc.response.get("Error", {}).get("Code", "")
        return status >= 500 or code in {"SlowDown", "RequestTimeout", "Throttling", "InternalError"}
    if isinstance(exc, BotoCoreError):
        return "timeout" in type(exc).__name__.lower() or "connection" in type(exc).__name__.lower()
    return isinstance(exc, ConnectionResetError | TimeoutError)


def _lag_seconds(f: ImportFile, finished: datetime) -> float | None:
    origin = f.s3_event_time or f.received_at or f.created_at
    return max(0.0, (finished - origin).total_seconds()) if origin else None


@dataclass
class _ParsedBatch:
    events: list
    errors: list[tuple[int, str, str]]  # (line number, raw text, message)
    lines: int
    last: bool = False  # the file ends here


_DONE = object()


def _parse_batches(stream, parser: LineParser, batch_size: int) -> Iterator[_ParsedBatch]:
    """The file's lines, parsed, in batches; bad lines come back as errors beside the events."""
    batch = _ParsedBatch([], [], 0)
    for line_number, raw in iter_lines(stream):
        if not raw or raw == b"\r":
            continue
        batch.lines += 1
        try:
            batch.events.append(parser.parse(raw, line_number))
        except LineRejected as exc:
            batch.errors.append((line_number, raw_text(raw), str(exc)))
        if len(batch.events) >= batch_size or len(batch.errors) >= 1000:
            yield batch
            batch = _ParsedBatch([], [], 0)
    if batch.lines:
        batch.last = True
        yield batch


def _read_ahead(batches: Iterator[_ParsedBatch], depth: int = 1) -> Iterator[_ParsedBatch]:
    """Parse in a second thread while this one waits on the database.

    psycopg releases the GIL while PostgreSQL works on a batch, so parsing the next batch
    meanwhile hides most of the server time. At most ``depth`` batches wait (one is enough to
    overlap the two; each more costs a batch of memory): memory stays bounded whatever the
    file's size. The first batch is parsed here: a file that fits in one
    batch (most files) needs no second thread.
    """
    first = next(batches, None)
    if first is None:
        return
    if first.last:
        yield first
        return
    handoff: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def offer(item: object) -> bool:
        """Hand over, unless the consumer has gone (then nobody would ever take it)."""
        while not stop.is_set():
            try:
                handoff.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in batches:
                if not offer(item):
                    return
            offer(_DONE)
        except BaseException as exc:  # handed to the consuming thread, which raises it
            offer(exc)

    producer = threading.Thread(target=produce, name="ingest-parse", daemon=True)
    with short_switch_interval():
        producer.start()
        try:
            yield first
            while True:
                item = handoff.get()
                if item is _DONE:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stop.set()
            producer.join(timeout=30)


def _import_lines(f: ImportFile, attempt: ImportAttempt) -> _Run:
    if f.stream not in STREAM_NAMES:
        raise PermanentImportError(
            f"cannot tell the stream of {f.uri!r}: its first path segment must be one of {', '.join(STREAM_NAMES)}"
            " (or pass --stream)"
        )
    spec = STREAMS[f.stream]
    parser = LineParser(spec, reject_nul=connection.vendor == "postgresql")
    run = _Run()
    with open_source(f.bucket, f.key, f.etag if f.bucket else "") as stream:
        for batch in _read_ahead(_parse_batches(stream, parser, settings.INGEST_BATCH_SIZE)):
            run.lines_total += batch.lines
            if batch.events:
                run.counts.add(apply_batch(batch.events, spec, f.pk))
            if batch.errors:
                room = max(0, MAX_STORED_LINE_ERRORS - run.errors_count)
                ImportLineError.objects.bulk_create(
                    [
                        ImportLineError(
                            import_file=f, attempt=attempt, line_number=number, raw_text=text, message=message
                        )
                        for number, text, message in batch.errors[:room]
                    ],
                    batch_size=1000,
                )
                run.errors_count += len(batch.errors)
    return run


def _run_locked(import_file_id: int, *, trigger: str, task_id: str, dry_run: bool) -> ImportOutcome:
    with transaction.atomic():
        try:
            f = ImportFile.objects.select_for_update(nowait=True).get(pk=import_file_id)
        except OperationalError as exc:
            if is_lock_busy(exc):
                raise ImportBusy(f"file {import_file_id} is being imported by another worker") from exc
            raise
        if not dry_run and f.status in (*DONE_STATUSES, ImportStatus.FAILED):
            return ImportOutcome(f.pk, f.status, skipped_reason=f"already {f.status}")

        started = timezone.now()
        clock = time.monotonic()
        attempt = ImportAttempt.objects.create(
            import_file=f,
            number=f.attempts_count + 1,
            trigger=trigger,
            status=ImportStatus.RUNNING,
            worker=worker_name(),
            task_id=task_id or "",
            dry_run=dry_run,
            started_at=started,
        )
        run = _import_lines(f, attempt)
        finished = timezone.now()
        duration = time.monotonic() - clock
        status = ImportStatus.IMPORTED_WITH_ERRORS if run.errors_count else ImportStatus.IMPORTED
        fields = run.as_fields()
        ImportAttempt.objects.filter(pk=attempt.pk).update(
            status=status, finished_at=finished, duration_seconds=duration, **fields
        )
        ImportFile.objects.filter(pk=f.pk).update(
            status=status,
            attempts_count=attempt.number,
            started_at=started,
            finished_at=finished,
            duration_seconds=duration,
            # The lag is that of the first import; a re-import weeks later says nothing about it.
            lag_seconds=_lag_seconds(f, finished) if f.lag_seconds is None else f.lag_seconds,
            error_message="",
            updated_at=finished,
            **fields,
        )
        if dry_run:
            transaction.set_rollback(True)
        return ImportOutcome(f.pk, status, ran=True, dry_run=dry_run, counts=fields)


def mark_failed(import_file_id: int, message: str, *, trigger: str = "task", task_id: str = "") -> ImportOutcome:
    """Record a permanent failure: status ``failed`` with the error, and an attempt that says so."""
    now = timezone.now()
    with transaction.atomic():
        f = ImportFile.objects.select_for_update().get(pk=import_file_id)
        if f.status in DONE_STATUSES:
            return ImportOutcome(f.pk, f.status, skipped_reason=f"already {f.status}")
        number = f.attempts_count + 1
        ImportAttempt.objects.create(
            import_file=f,
            number=number,
            trigger=trigger,
            status=ImportStatus.FAILED,
            worker=worker_name(),
            task_id=task_id or "",
            started_at=f.started_at or now,
            finished_at=now,
            error_message=message,
        )
        ImportFile.objects.filter(pk=f.pk).update(
            status=ImportStatus.FAILED, error_message=message, attempts_count=number, finished_at=now, updated_at=now
        )
    logger.error("import of file %s failed: %s", import_file_id, message)
    return ImportOutcome(import_file_id, ImportStatus.FAILED, ran=True, error=message)


def note_transient_failure(import_file_id: int, message: str) -> None:
    """Back to pending with the error shown, unless the file got imported meanwhile."""
    ImportFile.objects.filter(pk=import_file_id, status__in=[ImportStatus.PENDING, ImportStatus.RUNNING]).update(
        status=ImportStatus.PENDING, error_message=f"will retry: {message}", updated_at=timezone.now()
    )


def _mark_running(import_file_id: int) -> None:
    """Show the file as running. A row locked by the worker importing it is skipped rather than
    waited for: the lock in ``_run_locked`` then answers ImportBusy at once."""
    now = timezone.now()
    with transaction.atomic():
        free = ImportFile.objects.select_for_update(skip_locked=True).filter(
            pk=import_file_id, status__in=[ImportStatus.PENDING, ImportStatus.RUNNING]
        )
        if connection.features.has_select_for_update_skip_locked:
            free = ImportFile.objects.filter(pk__in=list(free.values_list("pk", flat=True)))
        free.update(status=ImportStatus.RUNNING, started_at=now, updated_at=now)


def import_file(
    import_file_id: int, *, trigger: str = "task", task_id: str = "", dry_run: bool = False
) -> ImportOutcome:
    """Import one registered file. Returns what happened; raises ImportBusy or TransientImportError
    for the caller (a Celery task) to retry; records permanent failures as ``failed``."""
    if not dry_run:
        _mark_running(import_file_id)
    for conflict_round in range(CONFLICT_RETRIES + 1):
        try:
            outcome = _run_locked(import_file_id, trigger=trigger, task_id=task_id, dry_run=dry_run)
        except ImportBusy:
            raise
        except (PermanentImportError, SourceMissing, EOFError, OSError, ValueError, zlib.error) as exc:
            if is_transient(exc):
                note_transient_failure(import_file_id, str(exc))
                raise TransientImportError(str(exc)) from exc
            if dry_run:
                return ImportOutcome(import_file_id, ImportStatus.FAILED, dry_run=True, error=str(exc))
            return mark_failed(import_file_id, f"{type(exc).__name__}: {exc}", trigger=trigger, task_id=task_id)
        except DatabaseError as exc:
            if _is_conflict(exc) and conflict_round < CONFLICT_RETRIES:
                time.sleep(random.uniform(0.01, 0.05) * (conflict_round + 1))  # noqa: S311 - jitter, not crypto
                continue
            if is_transient(exc):
                note_transient_failure(import_file_id, str(exc))
                raise TransientImportError(str(exc)) from exc
            return mark_failed(import_file_id, f"{type(exc).__name__}: {exc}", trigger=trigger, task_id=task_id)
        except Exception as exc:
            if is_transient(exc):
                note_transient_failure(import_file_id, str(exc))
                raise TransientImportError(str(exc)) from exc
            logger.exception("unexpected error importing file %s", import_file_id)
            if dry_run:
                return ImportOutcome(import_file_id, ImportStatus.FAILED, dry_run=True, error=str(exc))
            return mark_failed(import_file_id, f"{type(exc).__name__}: {exc}", trigger=trigger, task_id=task_id)
        if outcome.ran:
            logger.info(
                "imported file %s (%s): %s",
                import_file_id,
                outcome.status,
                ", ".join(f"{k}={v}" for k, v in outcome.counts.items()),
            )
        return outcome
    raise AssertionError("unreachable")
