"""One reconciliation run: read the snapshot, compare it chunk by chunk, record, repair what is asked.

The counts a run reports are those found before it repaired anything (the contract). Every step
is a short transaction of its own (a chunk staged and compared, a chunk repaired), so imports keep
running meanwhile; a dry run does everything in one transaction and rolls it back.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import IO, Any

from django.db import connection, transaction
from django.utils import timezone

from ingest.models.reconciliation import (
    COUNTED,
    RESEND_CATEGORIES,
    ReconciliationDrift,
    ReconciliationLineError,
    ReconciliationRun,
    Resolution,
    RunStatus,
)
from ingest.services.importing.collector import fewer_collections
from ingest.services.importing.read_ahead import read_ahead
from ingest.services.importing.sources import CorruptSource
from ingest.services.repair.reconcile.compare import Comparison
from ingest.services.repair.reconcile.repair import REPAIRS
from ingest.services.repair.reconcile.snapshot import (
    Header,
    LineError,
    SnapshotError,
    SnapshotRow,
    Source,
    open_snapshot,
    read_snapshot,
)

logger = logging.getLogger(__name__)

# Lines staged and compared per statement: 5,000 keeps a chunk (its events and lines) near 20 MB.
CHUNK_ROWS = 5_000
# More line errors than this are counted, not all stored (as for an import).
MAX_STORED_LINE_ERRORS = 10_000


@dataclass
class Requested:
    """Which repairs a run makes: ``apply`` (missing, behind), ``apply_content`` (differs),
    ``apply_deletes`` (only_on_website)."""

    apply: bool = False
    apply_content: bool = False
    apply_deletes: bool = False

    def asked(self) -> list[str]:
        return [name for name in ("apply", "apply_content", "apply_deletes") if getattr(self, name)]


@dataclass
class Report:
    run_id: int | None
    stream: str
    counts: dict[str, int] = field(default_factory=dict)
    header: Header | None = None
    dry_run: bool = False

    def as_json(self) -> dict[str, Any]:
        return {**self.counts, "stream": self.stream, "run_id": self.run_id}


def _store_line_errors(run: ReconciliationRun, errors: list[LineError], stored: int) -> int:
    room = max(0, MAX_STORED_LINE_ERRORS - stored)
    ReconciliationLineError.objects.bulk_create(
        [ReconciliationLineError(run=run, line_number=n, raw_text=text, message=msg) for n, text, msg in errors[:room]],
        batch_size=1000,
    )
    return min(room, len(errors))


@dataclass
class _Chunk:
    """Lines of the snapshot read ahead of the comparison: the valid rows, the bad lines, and on
    PostgreSQL the rows' staging text (``Comparison.staged_text``)."""

    rows: list[SnapshotRow] = field(default_factory=list)
    errors: list[LineError] = field(default_factory=list)
    lines: int = 0
    last: bool = False  # the snapshot ends here
    text: bytes | None = None


def _chunks(rows: Iterator[tuple[SnapshotRow | None, LineError | None]], comparison: Comparison) -> Iterator[_Chunk]:
    def staged(chunk: _Chunk) -> _Chunk:
        if comparison.pg and chunk.rows:
            chunk.text = comparison.staged_text(chunk.rows)
        return chunk

    chunk = _Chunk()
    for row, error in rows:
        chunk.lines += 1
        if row is not None:
            chunk.rows.append(row)
        elif error is not None:
            chunk.errors.append(error)
        if len(chunk.rows) >= CHUNK_ROWS or len(chunk.errors) >= 1000:
            yield staged(chunk)
            chunk = _Chunk()
    chunk.last = True
    yield staged(chunk)


def _compare(
    run: ReconciliationRun, header: Header, rows: Iterator[tuple[SnapshotRow | None, LineError | None]]
) -> None:
    """Compare chunk by chunk, each in a short transaction; the snapshot is read (its lines parsed
    and staged) a chunk ahead in a second thread, while this one waits on the database."""
    counts = dict.fromkeys(COUNTED, 0)
    line_errors = stored = lines = 0
    comparison = Comparison(header, connection)
    try:
        for chunk in read_ahead(_chunks(rows, comparison)):
            lines += chunk.lines
            errors = chunk.errors
            with transaction.atomic():
                if chunk.rows:
                    found, dupes = comparison.compare(run.pk, chunk.rows, chunk.text)
                    for category, n in found.items():
                        counts[category] += n
                    by_number = {r.line_number: r for r in chunk.rows}
                    for number, key_json in dupes:
                        first = by_number.get(number)
                        raw = first.line if first is not None and first.line is not None else key_json
                        errors.append(
                            (number, raw, f"a second line of the key {key_json} (its first line is compared)")
                        )
                if errors:
                    errors.sort()
                    stored += _store_line_errors(run, errors, stored)
                    line_errors += len(errors)
        if header.complete:
            with transaction.atomic():
                counts["only_on_website"] = comparison.only_on_website(run.pk, header.taken_at)
    finally:
        comparison.drop()
        comparison.close()
    ReconciliationRun.objects.filter(pk=run.pk).update(lines_total=lines, line_errors=line_errors, **counts)
    run.refresh_from_db()


def repair(run: ReconciliationRun, requested: Requested) -> dict[str, int]:
    """Make the requested repairs of a compared run (again: only what is still open); what each applied."""
    done: dict[str, int] = {}
    for name in requested.asked():
        count_field, function = REPAIRS[name]
        result = function(run)
        done[count_field] = result.applied
        if result.applied:
            ReconciliationRun.objects.filter(pk=run.pk).update(
                **{count_field: getattr(run, count_field) + result.applied}
            )
            setattr(run, count_field, getattr(run, count_field) + result.applied)
    return done


def _start(run: ReconciliationRun | None, source: Source, header: Header, trigger: str) -> ReconciliationRun:
    fields = {
        "stream": header.stream,
        "source": source.uri,
        "bucket": source.bucket,
        "key": source.key,
        "etag": source.etag,
        "taken_at": header.taken_at,
        "complete": header.complete,
        "rows_kind": header.rows,
        "started_at": timezone.now(),
        "status": RunStatus.RUNNING,
    }
    if run is None:
        return ReconciliationRun.objects.create(trigger=trigger, **fields)
    if run.stream and run.stream != header.stream:
        raise SnapshotError(f"the header's stream {header.stream!r} is not {run.stream!r}, the folder it was put in")
    ReconciliationRun.objects.filter(pk=run.pk).update(**fields)
    run.refresh_from_db()
    return run


def _discard(run: ReconciliationRun, *, keep: bool) -> None:
    """Forget a comparison that cannot stand: its drift and line errors, and the run itself
    unless it was registered before (``reconcile`` then marks it failed)."""
    with transaction.atomic():
        ReconciliationDrift.objects.filter(run=run).delete()
        ReconciliationLineError.objects.filter(run=run).delete()
        if not keep:
            ReconciliationRun.objects.filter(pk=run.pk).delete()


def _reconcile(
    source: Source,
    requested: Requested,
    *,
    trigger: str,
    run: ReconciliationRun | None,
    resend_to: IO[str] | None,
    dry_run: bool,
    progress: Callable[[int], None] | None = None,
    progress_total: Callable[[int | None], None] | None = None,
) -> Report:
    clock = time.monotonic()
    registered = run is not None
    with open_snapshot(source, progress, progress_total) as stream:
        header, _reader, rows = read_snapshot(stream, postgres=connection.vendor == "postgresql")
        run = _start(run, source, header, trigger)
        try:
            try:
                with fewer_collections():  # as an import: millions of short-lived rows, hardly a cycle
                    _compare(run, header, rows)
            except CorruptSource as exc:
                # GZIP found corrupt after the header (a CRC is checked at a member's end): none of
                # the file can be trusted, so it is refused as a whole, as a bad header is: what
                # was compared is dropped, and a run this call made is not kept (nothing recorded).
                _discard(run, keep=registered)
                raise SnapshotError(f"cannot read the snapshot: {exc}") from exc
            repair(run, requested)
        except SnapshotError:
            raise
        except Exception as exc:
            if not dry_run:
                ReconciliationRun.objects.filter(pk=run.pk).update(
                    status=RunStatus.FAILED, error_message=f"{type(exc).__name__}: {exc}", finished_at=timezone.now()
                )
            raise
    ReconciliationRun.objects.filter(pk=run.pk).update(
        status=RunStatus.DONE, finished_at=timezone.now(), duration_seconds=time.monotonic() - clock
    )
    run.refresh_from_db()
    if resend_to is not None:
        write_resend(run, resend_to)
    logger.info(
        "reconciled %s against %s (run %s): %s",
        run.stream,
        source.uri,
        run.pk,
        ", ".join(f"{k}={v}" for k, v in run.counts().items()),
    )
    return Report(None if dry_run else run.pk, run.stream, run.counts(), header, dry_run)


def reconcile(
    uri: str,
    requested: Requested | None = None,
    *,
    etag: str = "",
    trigger: str = "command",
    run: ReconciliationRun | None = None,
    resend_to: IO[str] | None = None,
    dry_run: bool = False,
    progress: Callable[[int], None] | None = None,
    progress_total: Callable[[int | None], None] | None = None,
) -> Report:
    """Reconcile the website against the snapshot at ``uri`` (``s3://bucket/key`` or a path).
    ``progress_total(n)`` is told the snapshot's stored size, ``progress(n)`` of every ``n`` of
    its stored bytes read (a command's bar).

    Raises ``SnapshotError`` (nothing recorded, nothing changed) when the snapshot cannot be read
    (its GZIP corrupt, even past the header) or its header is bad; with ``run`` (registered from a
    notification) that run is marked failed."""
    requested = requested or Requested()
    source = Source.parse(uri, etag)
    reconcile_it = partial(
        _reconcile,
        source,
        requested,
        trigger=trigger,
        run=run,
        resend_to=resend_to,
        dry_run=dry_run,
        progress=progress,
        progress_total=progress_total,
    )
    if dry_run:
        with transaction.atomic():
            report = reconcile_it()
            transaction.set_rollback(True)
        return report
    try:
        return reconcile_it()
    except SnapshotError as exc:
        if run is not None:
            ReconciliationRun.objects.filter(pk=run.pk).update(
                status=RunStatus.FAILED, error_message=str(exc), finished_at=timezone.now()
            )
        raise


def resend_rows(run: ReconciliationRun) -> Iterator[dict[str, Any]]:
    """The keys System Two must send again: the ``missing``, ``behind`` and ``differs`` keys the
    run left unrepaired (a versions snapshot repairs none). A key a newer version reached since is
    not among them: the website holds more than the snapshot."""
    drift = (
        ReconciliationDrift.objects.filter(run=run, category__in=RESEND_CATEGORIES, resolution=Resolution.OPEN)
        .order_by("pk")
        .values_list("key_json", "category")
    )
    for key_json, category in drift.iterator(chunk_size=2000):
        yield {"stream": run.stream, "key": json.loads(key_json), "reason": category}


def write_resend(run: ReconciliationRun, out: IO[str]) -> int:
    n = 0
    for row in resend_rows(run):
        out.write(json.dumps(row, ensure_ascii=False) + "\n")
        n += 1
    return n
