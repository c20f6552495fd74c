"""Importing small files in batches: a worker that takes the task of one small file imports it with
up to ``INGEST_IMPORT_BATCH_FILES - 1`` other ready files of the same stream, in ONE transaction.

A backfill is mostly small files (Firehose with a short buffer), and one transaction per file
spends most of a file's time on the commit, the task's round trips and the S3 GET. Here:

* the batch-mates are the stream's pending files that nobody holds, taken with ``FOR UPDATE SKIP
  LOCKED`` (two workers never take the same file; a file whose own task is running is skipped),
  that wait for no retry and are no bigger than ``INGEST_IMPORT_BATCH_MAX_BYTES``. Nothing waits
  for a batch to fill: a lone file (the trickle) is a batch of one, imported as before;
* every file keeps its own accounting: one attempt, its counts, its line errors, its status, its
  outbox and clock rows, each through ``ingest.services.importing.lifecycle``. A batch first runs
  without savepoints (most have no bad file; a savepoint costs a file two round trips); if a file
  fails, the batch is rolled back and run again with each file in its own savepoint, so the one
  that fails (a permanent error: ``failed`` alone; a transient one: left pending for its own task
  to retry) is rolled back alone and its batch-mates commit;
* a thread fetches the next files' objects from S3 while this one parses and writes the current
  ones (their bytes whole: they are small by definition, at most two ahead);
* the mates' own tasks, delivered later, find them imported (or busy, then imported) and skip.
"""

from __future__ import annotations

import io
import logging
import queue
import threading
import time
from collections.abc import Generator, Iterator
from contextlib import closing, contextmanager, nullcontext
from dataclasses import dataclass

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from ingest.models import ImportFile, ImportStatus
from ingest.services.importing import hooks, lifecycle
from ingest.services.importing.exceptions import is_conflict, is_transient
from ingest.services.importing.lifecycle import ImportOutcome
from ingest.services.importing.read_ahead import put_unless_stopped
from ingest.services.importing.run import _FILE_ERRORS, _import_lines, import_file
from ingest.services.importing.sources import decompressed, open_local, open_s3_body

logger = logging.getLogger(__name__)

PREFETCH_DEPTH = 2  # objects fetched ahead of the one being imported


def _is_small(f: ImportFile) -> bool:
    return f.size is not None and f.size <= settings.INGEST_IMPORT_BATCH_MAX_BYTES


def _take_mates(f: ImportFile, limit: int) -> list[ImportFile]:
    """Up to ``limit`` other ready small files of ``f``'s stream, locked for this transaction."""
    now = timezone.now()
    mates = (
        ImportFile.objects.filter(
            stream=f.stream,
            status=ImportStatus.PENDING,
            size__lte=settings.INGEST_IMPORT_BATCH_MAX_BYTES,
        )
        .filter(Q(retry_due_at__isnull=True) | Q(retry_due_at__lte=now))
        .exclude(pk=f.pk)
        .order_by("pk")
    )
    if connection.vendor == "postgresql":
        mates = mates.select_for_update(skip_locked=True)
    return list(mates[:limit])


@dataclass
class _Fetched:
    file_id: int
    data: bytes = b""
    error: BaseException | None = None


def _fetch(f: ImportFile) -> _Fetched:
    try:
        raw = open_s3_body(f.bucket, f.key, f.etag) if f.bucket else open_local(f.key)
        try:
            return _Fetched(f.pk, raw.read())
        finally:
            raw.close()
    except Exception as exc:  # raised where the file is imported, in its own savepoint
        return _Fetched(f.pk, error=exc)


def _prefetched(files: list[ImportFile]) -> Generator[_Fetched, None, None]:
    """The files' bytes in order, fetched by a second thread ``PREFETCH_DEPTH`` ahead (boto3 and
    the socket reads release the GIL while this thread works with the database)."""
    handoff: queue.Queue[_Fetched] = queue.Queue(maxsize=PREFETCH_DEPTH)
    stop = threading.Event()

    def fetch_all() -> None:
        for f in files:
            if not put_unless_stopped(handoff, _fetch(f), stop):
                return

    fetcher = threading.Thread(target=fetch_all, name="ingest-prefetch", daemon=True)
    fetcher.start()
    try:
        for _ in files:
            yield handoff.get()
    finally:
        stop.set()
        fetcher.join(timeout=30)


@contextmanager
def _opened(fetched: _Fetched) -> Iterator:
    if fetched.error is not None:
        raise fetched.error
    stream = decompressed(io.BytesIO(fetched.data))
    try:
        yield stream
    finally:
        stream.close()


class _LeftAlone(Exception):
    """A transient failure of one file of the batch: rolled back alone, left pending."""


class _Redo(Exception):
    """A file failed in a batch run without savepoints: the batch is rolled back and run again,
    each file in its own savepoint."""


def _import_one(f: ImportFile, fetched: _Fetched, *, trigger: str, task_id: str, isolated: bool) -> ImportOutcome:
    """One file of the batch (``f`` is locked by the batch's transaction); ``isolated``: in its own
    savepoint (two round trips more a file: only once a file of the batch has failed)."""
    try:
        with transaction.atomic() if isolated else nullcontext():
            started = timezone.now()
            clock = time.monotonic()
            attempt = lifecycle.start_attempt(f, trigger=trigger, task_id=task_id, dry_run=False, started=started)
            observer = hooks.ImportObserver(f)
            counts = _import_lines(f, attempt, observer, source=_opened(fetched)).as_fields()
            duration = time.monotonic() - clock
            status = lifecycle.finish(f, attempt, counts=counts, started=started, duration=duration)
            observer.committing(status, counts, duration)
            return ImportOutcome(f.pk, status, ran=True, counts=counts)
    except Exception as exc:
        if not isolated:
            raise _Redo(f"file {f.pk}: {type(exc).__name__}: {exc}") from exc
        if is_transient(exc) or (isinstance(exc, DatabaseError) and is_conflict(exc)):
            # Rolled back to the savepoint; S3 or the database unwell: its own task retries it.
            raise _LeftAlone(str(exc)) from exc
        if not isinstance(exc, _FILE_ERRORS):
            logger.exception("unexpected error importing file %s", f.pk)
        return lifecycle.fail(f.pk, f"{type(exc).__name__}: {exc}", trigger=trigger, task_id=task_id)


def import_with_batch_mates(
    import_file_id: int, *, trigger: str = "task", task_id: str = "", retry_within: float = 0.0, limit: int = 0
) -> ImportOutcome:
    """Import this file, and with it up to ``limit - 1`` ready small files of its stream (default
    ``INGEST_IMPORT_BATCH_FILES``) in one transaction; this file's outcome. A file that is big,
    alone, or that fails transiently in the batch goes through ``run.import_file`` (which raises
    ImportBusy and TransientImportError for the task, as always)."""
    limit = limit or settings.INGEST_IMPORT_BATCH_FILES
    own: ImportOutcome | None = None
    if limit > 1:
        own = _import_batch(import_file_id, trigger=trigger, task_id=task_id, limit=limit)
    if own is None:
        return import_file(import_file_id, trigger=trigger, task_id=task_id, retry_within=retry_within)
    return own


def _import_batch(import_file_id: int, *, trigger: str, task_id: str, limit: int) -> ImportOutcome | None:
    """The batch; None when this file is to be imported alone (big, no mates, or it was left alone)."""
    f = ImportFile.objects.filter(pk=import_file_id).first()
    if f is not None and f.status in lifecycle.TERMINAL_STATUSES:
        # Most often a batch-mate's own task, after its batch: one query, not the claim's four.
        return ImportOutcome(f.pk, f.status, skipped_reason=f"already {f.status}")
    if f is None or not _is_small(f) or f.status not in (ImportStatus.PENDING, ImportStatus.RUNNING):
        return None
    # A quick look before locking anything: the trickle (no other file waiting) takes the usual path.
    if not ImportFile.objects.filter(stream=f.stream, status=ImportStatus.PENDING).exclude(pk=f.pk).exists():
        return None
    lifecycle.show_running(import_file_id)
    try:
        # Most batches have no bad file: no savepoints, two round trips a file saved.
        return _run_batch(import_file_id, trigger=trigger, task_id=task_id, limit=limit, isolated=False)
    except _Redo as exc:
        logger.info("a file failed in its batch (%s): the batch again, each file in a savepoint", exc)
    return _run_batch(import_file_id, trigger=trigger, task_id=task_id, limit=limit, isolated=True)


def _run_batch(import_file_id: int, *, trigger: str, task_id: str, limit: int, isolated: bool) -> ImportOutcome | None:
    outcomes: dict[int, ImportOutcome] = {}
    left_alone: list[int] = []
    with transaction.atomic():
        f = lifecycle.claim(import_file_id)  # ImportBusy for the task, as the usual path
        if f.status in lifecycle.TERMINAL_STATUSES:
            return ImportOutcome(f.pk, f.status, skipped_reason=f"already {f.status}")
        mates = _take_mates(f, limit - 1)
        files = [f, *mates]
        with closing(_prefetched(files)) as fetched_files:
            for g, fetched in zip(files, fetched_files, strict=True):
                mate_trigger = trigger if g.pk == f.pk else "batch"
                try:
                    outcomes[g.pk] = _import_one(g, fetched, trigger=mate_trigger, task_id=task_id, isolated=isolated)
                except _LeftAlone as exc:
                    left_alone.append(g.pk)
                    logger.warning("file %s left out of its batch (its own task retries it): %s", g.pk, exc)
    imported = [o for o in outcomes.values() if o.ran and not o.failed]
    logger.info(
        "imported a batch of %s file(s) of %s: %s imported, %s failed, %s left to their own task",
        len(outcomes) + len(left_alone),
        f.stream,
        len(imported),
        sum(o.failed for o in outcomes.values()),
        len(left_alone),
    )
    return outcomes.get(import_file_id)
