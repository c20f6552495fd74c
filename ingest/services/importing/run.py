"""Importing one registered file into the website tables, exactly once.

A file is imported in ONE database transaction: its rows, its line errors, its attempt and
its final status commit together or not at all, so a worker killed half-way leaves no
partial rows and the file is simply imported again. The transaction starts by locking the
ImportFile row (``FOR UPDATE NOWAIT`` on PostgreSQL; SQLite's write lock does the same):
whoever holds it is the one importer of that file, and a second delivery of the same task
finds either the lock taken (``ImportBusy``) or the file already imported (skipped). Every
status the import records goes through ``ingest.services.importing.lifecycle``.
"""

from __future__ import annotations

import logging
import random
import time
import zlib
from array import array
from collections.abc import Callable, Generator, Iterator
from contextlib import AbstractContextManager, closing
from dataclasses import dataclass, field
from typing import BinaryIO

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from ingest.models import ImportFile, ImportLineError, ImportStatus
from ingest.services.importing import hooks, lifecycle, parse_process
from ingest.services.importing.collector import fewer_collections
from ingest.services.importing.exceptions import (
    DATABASE_GONE,
    ImportBusy,
    PermanentImportError,
    TransientImportError,
    is_conflict,
    is_transient,
)
from ingest.services.importing.extras import ExtrasTally
from ingest.services.importing.lifecycle import ImportOutcome
from ingest.services.importing.line_errors import damaged_source, overlong_line, rejected_line
from ingest.services.importing.parsing import LineParser, LineRejected
from ingest.services.importing.read_ahead import read_ahead
from ingest.services.importing.sources import SourceMissing, open_source, source_damage
from ingest.services.loading import BatchCounts, apply_batch
from ingest.services.loading.prepared import BatchPreparer, PreparedBatch, apply_prepared
from ingest.services.observing.event_clock import stamps_of
from transforms.streams import STREAM_NAMES, STREAMS, StreamSpec
from transforms.system_one.lines import OverlongLine, iter_lines

logger = logging.getLogger(__name__)

# More than this many line errors in one attempt are counted but not all stored.
MAX_STORED_LINE_ERRORS = 10_000
# Deadlocks and serialisation failures between concurrent imports are retried here, at once.
CONFLICT_RETRIES = 8


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


@dataclass
class _ParsedBatch:
    events: list
    errors: list[tuple[int, str, str]]  # (line number, raw text, message)
    lines: int
    last: bool = False  # the file ends here
    envelopes: list = field(default_factory=list)  # unknown envelope members: (line, eventId, extras)
    size: int = 0  # bytes of the lines held
    # (parsed in a second process) the events as their winners' COPY text; ``events`` is then empty
    prepared: PreparedBatch | None = None


def _parse_batches(stream, parser: LineParser, batch_size: int, max_bytes: int) -> Iterator[_ParsedBatch]:
    """The file's lines, parsed, in batches of at most ``batch_size`` events and about ``max_bytes``
    of lines (INGEST_BATCH_MAX_BYTES; a batch holds each line's values several times over, so wide
    lines must make short batches); bad lines come back as errors beside the events.

    Hostile input stays a line error: a line over INGEST_MAX_LINE_BYTES (never held whole), and
    the place where a damaged GZIP stream stops."""
    batch = _ParsedBatch([], [], 0)
    max_line_bytes = settings.INGEST_MAX_LINE_BYTES
    last_number = 0
    for line_number, raw in iter_lines(stream, max_line_bytes=max_line_bytes):
        last_number = line_number
        if source_damage(stream):  # only the line the damage cut off comes after it
            partial = raw.excerpt if isinstance(raw, OverlongLine) else raw
            batch.lines += 1
            batch.errors.append(damaged_source(line_number, partial, source_damage(stream)))
            break
        if isinstance(raw, OverlongLine):
            batch.lines += 1
            batch.errors.append(overlong_line(line_number, raw, max_line_bytes))
        elif not raw or raw == b"\r":
            continue
        else:
            batch.lines += 1
            batch.size += len(raw)
            try:
                batch.events.append(parser.parse(raw, line_number))
            except LineRejected as exc:
                batch.errors.append(rejected_line(line_number, raw, str(exc)))
        if len(batch.events) >= batch_size or batch.size >= max_bytes or len(batch.errors) >= 1000:
            batch.envelopes = parser.extras.tally.take_envelopes()
            yield batch
            batch = _ParsedBatch([], [], 0)
    else:
        if source_damage(stream):  # the damage fell between two lines
            batch.errors.append(damaged_source(last_number + 1, b"", source_damage(stream)))
    if batch.lines or batch.errors:
        batch.last = True
        batch.envelopes = parser.extras.tally.take_envelopes()
        yield batch


def _import_lines(
    f: ImportFile,
    attempt: lifecycle.Attempt,
    observer: hooks.ImportObserver | None = None,
    source: AbstractContextManager | None = None,
) -> _Run:
    """``source``: the file's bytes already opened (batch_run's prefetch); by default its object, streamed."""
    if f.stream not in STREAM_NAMES:
        raise PermanentImportError(
            f"cannot tell the stream of {f.uri!r}: its first path segment must be one of {', '.join(STREAM_NAMES)}"
            " (or pass --stream)"
        )
    spec = STREAMS[f.stream]
    postgres = connection.vendor == "postgresql"
    parser = LineParser(spec, reject_nul=postgres, text_values=postgres)
    run = _Run()
    opened = source if source is not None else open_source(f.bucket, f.key, f.etag if f.bucket else "")
    # The batches are closed as the loop is left, by an error too: a parse process (or thread)
    # ends then, not when the error's traceback is freed.
    in_child = postgres and source is None
    with fewer_collections(), opened as stream, closing(_batches(f, stream, parser, in_child=in_child)) as parsed:
        for batch in parsed:
            run.lines_total += batch.lines
            counts, stamps = _apply(batch, spec, f.pk, collect_keys=observer is not None)
            if counts is not None:
                if observer is not None:
                    observer.batch(stamps, counts)
                run.counts.add(counts)
            if batch.envelopes and observer is not None:
                observer.envelopes(batch.envelopes)
            if batch.errors:
                room = max(0, MAX_STORED_LINE_ERRORS - run.errors_count)
                row = attempt.saved()  # the line errors point to it
                ImportLineError.objects.bulk_create(
                    [
                        ImportLineError(import_file=f, attempt=row, line_number=number, raw_text=text, message=message)
                        for number, text, message in batch.errors[:room]
                    ],
                    batch_size=1000,
                )
                run.errors_count += len(batch.errors)
    if observer is not None:
        observer.unknown_fields(parser.extras.tally)
    return run


def _batches(
    f: ImportFile, stream: BinaryIO, parser: LineParser, *, in_child: bool
) -> Generator[_ParsedBatch, None, None]:
    """The file's batches: parsed in a second process for a big file (``in_child``: on PostgreSQL,
    streamed from its source), else in a thread beside this one."""

    def parse(source: BinaryIO) -> Iterator[_ParsedBatch]:
        return _parse_batches(source, parser, settings.INGEST_BATCH_SIZE, settings.INGEST_BATCH_MAX_BYTES)

    if in_child and parse_process.wanted(f.size, postgres=True):
        preparer = BatchPreparer(parser.spec, connection)

        def adopt_tally(tally: ExtrasTally) -> None:
            parser.extras.tally = tally

        return parse_process.parsed_in_child(stream, parse, preparer.prepare, lambda: parser.extras.tally, adopt_tally)  # type: ignore[return-value]
    return read_ahead(parse(stream))


def _apply(
    batch: _ParsedBatch, spec: StreamSpec, import_id: int, *, collect_keys: bool
) -> tuple[BatchCounts | None, array[int]]:
    """Apply a batch's events; what they did (None if it had none, only bad lines) and their clock stamps."""
    prepared = batch.prepared
    if prepared is None:
        if not batch.events:
            return None, array("q")
        return apply_batch(batch.events, spec, import_id, collect_keys=collect_keys), stamps_of(batch.events)
    if not len(prepared.stamps):
        return None, prepared.stamps
    return apply_prepared(prepared, spec, import_id, collect_keys=collect_keys), prepared.stamps


def _run_locked(
    import_file_id: int, *, trigger: str, task_id: str, dry_run: bool, progress: Callable[[int], None] | None = None
) -> ImportOutcome:
    with transaction.atomic():
        f = lifecycle.claim(import_file_id)
        if not dry_run and f.status in lifecycle.TERMINAL_STATUSES:
            return ImportOutcome(f.pk, f.status, skipped_reason=f"already {f.status}")
        started = timezone.now()
        clock = time.monotonic()
        attempt = lifecycle.start_attempt(f, trigger=trigger, task_id=task_id, dry_run=dry_run, started=started)
        observer = None if dry_run else hooks.ImportObserver(f)
        source = open_source(f.bucket, f.key, f.etag if f.bucket else "", progress) if progress else None
        counts = _import_lines(f, attempt, observer, source).as_fields()
        duration = time.monotonic() - clock
        status = lifecycle.finish(f, attempt, counts=counts, started=started, duration=duration)
        if observer is not None:
            observer.committing(status, counts, duration)
        if dry_run:
            transaction.set_rollback(True)
        return ImportOutcome(f.pk, status, ran=True, dry_run=dry_run, counts=counts)


def _transient(import_file_id: int, exc: BaseException, retry_within: float) -> TransientImportError:
    try:
        lifecycle.note_transient_failure(import_file_id, str(exc), retry_within=retry_within)
    except DATABASE_GONE as gone:
        # The database is the trouble: the file stays "running" with no lock, which the sweep
        # also recognises, and the retry imports it.
        logger.warning("file %s: could not record the transient failure: %s", import_file_id, gone)
    return TransientImportError(str(exc))


# Errors of the file itself, expected: recorded without a traceback.
_FILE_ERRORS = (PermanentImportError, SourceMissing, EOFError, OSError, ValueError, zlib.error)


def import_file(
    import_file_id: int,
    *,
    trigger: str = "task",
    task_id: str = "",
    dry_run: bool = False,
    retry_within: float = 0.0,
    progress: Callable[[int], None] | None = None,
) -> ImportOutcome:
    """Import one registered file. Returns what happened; raises ImportBusy or TransientImportError
    for the caller (a Celery task) to retry, due within ``retry_within`` seconds; records permanent
    failures as ``failed``. ``progress(n)``: ``n`` more of the file's stored bytes read (a command's bar)."""
    for conflict_round in range(CONFLICT_RETRIES + 1):
        try:
            if not dry_run:
                lifecycle.show_running(import_file_id)
            outcome = _run_locked(import_file_id, trigger=trigger, task_id=task_id, dry_run=dry_run, progress=progress)
        except (ImportBusy, ImportFile.DoesNotExist):
            raise
        except Exception as exc:
            if isinstance(exc, DatabaseError) and is_conflict(exc) and conflict_round < CONFLICT_RETRIES:
                time.sleep(random.uniform(0.01, 0.05) * (conflict_round + 1))  # noqa: S311 - jitter, not crypto
                continue
            if is_transient(exc):
                raise _transient(import_file_id, exc, retry_within) from exc
            if not isinstance(exc, (*_FILE_ERRORS, DatabaseError)):
                logger.exception("unexpected error importing file %s", import_file_id)
            if dry_run:
                return ImportOutcome(import_file_id, ImportStatus.FAILED, dry_run=True, error=str(exc))
            return lifecycle.fail(import_file_id, f"{type(exc).__name__}: {exc}", trigger=trigger, task_id=task_id)
        if outcome.ran:
            logger.info(
                "imported file %s (%s): %s",
                import_file_id,
                outcome.status,
                ", ".join(f"{k}={v}" for k, v in outcome.counts.items()),
            )
        return outcome
    raise AssertionError("unreachable")
