"""Re-importing files, and finding objects in the bucket that were never announced.

A re-import sets a file back to ``pending`` and runs the importer again; the earlier
ImportAttempts stay, so the file's history shows every run. ``find_missing_objects`` is the
sweep that recovers lost notifications: it lists the bucket under the nine stream prefixes
and returns every object that has no ImportFile for its key and content (ETag), however old,
unless the ledger holds it (imported, then pruned: ingest/services/intake/ledger.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import partial

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from ingest.models import ImportFile, ImportStatus
from ingest.services.importing import lifecycle
from ingest.services.importing.enqueue import enqueue_import
from ingest.services.importing.exceptions import ImportBusy, TransientImportError
from ingest.services.importing.lifecycle import ImportOutcome
from ingest.services.importing.run import import_file
from ingest.services.importing.sources import s3_storage
from ingest.services.intake.ledger import known_in_ledger
from ingest.services.intake.registration import S3Object, register_s3_object
from transforms.streams import STREAM_NAMES

LIST_PAGE_SIZE = 1000


@dataclass
class ReimportReport:
    selected: int = 0
    enqueued: list[int] = field(default_factory=list)
    imported: list[ImportOutcome] = field(default_factory=list)
    skipped: list[tuple[int, str]] = field(default_factory=list)
    dry_run: bool = False
    planned: list[int] = field(default_factory=list)  # dry run: the files that would be re-imported
    missing: list[S3Object] = field(default_factory=list)  # --missing: the objects found without a file
    registered: list[int] = field(default_factory=list)  # --missing: the files registered for them

    def summary(self) -> str:
        parts = []
        if self.missing:
            parts.append(f"{len(self.missing)} object(s) without a file")
        if self.registered:
            parts.append(f"{len(self.registered)} registered")
        parts.append(f"{self.selected} selected")
        if self.dry_run:
            parts.append(f"{len(self.planned)} would be re-imported (dry run, nothing changed)")
        else:
            if self.enqueued:
                parts.append(f"{len(self.enqueued)} enqueued")
            if self.imported:
                failed = sum(1 for o in self.imported if o.failed)
                parts.append(f"{len(self.imported)} imported" + (f" ({failed} failed)" if failed else ""))
            if self.skipped:
                parts.append(f"{len(self.skipped)} skipped")
        return ", ".join(parts)


def parse_when(value: str | date | datetime, *, end: bool = False) -> datetime:
    """A ``--since``/``--until`` bound: a datetime (naive = UTC) or a date (its start; with ``end``,
    the start of the next day, so that ``--until 2026-11-27`` includes that whole day)."""
    moment: datetime | None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime.combine(value + timedelta(days=1) if end else value, time.min)
    else:
        text = value.strip()
        day = parse_date(text) if len(text) == 10 else None  # a bare date, before fromisoformat takes it
        moment = parse_datetime(text) if day is None else None
        if day is not None:
            moment = datetime.combine(day + timedelta(days=1) if end else day, time.min)
        elif moment is None:
            raise ValueError(f"{value!r} is neither a date (YYYY-MM-DD) nor a datetime (ISO 8601)")
    if timezone.is_naive(moment):
        moment = moment.replace(tzinfo=UTC)
    return moment


def select_files(
    *,
    ids: Iterable[int] | None = None,
    key: str | None = None,
    prefix: str | None = None,
    stream: str | None = None,
    status: str | Iterable[str] | None = None,
    since: str | date | datetime | None = None,
    until: str | date | datetime | None = None,
    bucket: str | None = None,
) -> QuerySet[ImportFile]:
    """The files matching every filter given (on ``created_at`` for since/until), oldest first."""
    qs = ImportFile.objects.all()
    if ids:
        qs = qs.filter(pk__in=list(ids))
    if key:
        qs = qs.filter(key=key)
    if prefix:
        qs = qs.filter(key__startswith=prefix)
    if stream:
        qs = qs.filter(stream=stream)
    if status:
        qs = qs.filter(status__in=[status] if isinstance(status, str) else list(status))
    if since:
        qs = qs.filter(created_at__gte=parse_when(since))
    if until:
        qs = qs.filter(created_at__lt=parse_when(until, end=True))
    if bucket is not None:
        qs = qs.filter(bucket=bucket)
    return qs.order_by("created_at", "pk")


def _check_stream(stream: str | None) -> None:
    if stream is not None and stream not in STREAM_NAMES:
        raise ValueError(f"unknown stream {stream!r}: one of {', '.join(STREAM_NAMES)}")


def reimport_files(
    files: Iterable[ImportFile] | QuerySet[ImportFile],
    *,
    sync: bool = False,
    dry_run: bool = False,
    trigger: str = "reimport",
    enqueue: Callable[[int], None] | None = None,
    stream: str | None = None,
    progress: Callable[[int], None] | None = None,
    bytes_read: Callable[[int], None] | None = None,
) -> ReimportReport:
    """Set the files back to pending and import them again: here (``sync``) or through the task queue.

    The earlier attempts stay. A file that is being imported right now is skipped. With ``dry_run``
    nothing changes: the report lists what would be re-imported. With ``stream``, the files are
    imported as that stream from now on: the fix for a file that failed for a wrong or missing one.
    ``progress(1)`` is called after each file (a command's progress bar); with ``sync``,
    ``bytes_read(n)`` of every ``n`` stored bytes a file's import reads (a bar for one big file)."""
    _check_stream(stream)
    enqueue = enqueue or partial(enqueue_import, trigger=trigger)
    ids = list(files.values_list("pk", flat=True)) if isinstance(files, QuerySet) else [f.pk for f in files]
    report = ReimportReport(selected=len(ids), dry_run=dry_run)
    if dry_run:
        report.planned = ids
        return report
    for pk in ids:
        try:
            # The stream is set with the reset, before the import starts (here, or by the task
            # enqueued below): it reads the stream then.
            reason = lifecycle.reset_for_reimport(pk, enqueue=not sync, stream=stream or "")
            if reason:
                report.skipped.append((pk, reason))
                continue
            if sync:
                try:
                    report.imported.append(import_file(pk, trigger=trigger, progress=bytes_read))
                except (ImportBusy, TransientImportError) as exc:
                    report.skipped.append((pk, f"not imported now: {exc}"))
                continue
            try:
                enqueue(pk)
            except Exception as exc:  # broker down: the file is pending, the consumer's sweep enqueues it
                ImportFile.objects.filter(pk=pk, status=ImportStatus.PENDING).update(enqueued_at=None)
                report.skipped.append((pk, f"could not enqueue ({exc}); left pending for the consumer's sweep"))
                continue
            report.enqueued.append(pk)
        finally:
            if progress is not None:
                progress(1)
    return report


def dry_run_import(import_file_id: int, *, stream: str | None = None, trigger: str = "command") -> ImportOutcome:
    """What importing the file would do, in a transaction that is rolled back; as ``stream`` if
    given (a failed file keeps its own: the dry run of ``--force --stream``)."""
    _check_stream(stream)
    with transaction.atomic():
        if stream:
            ImportFile.objects.filter(pk=import_file_id).exclude(stream=stream).update(stream=stream)
        outcome = import_file(import_file_id, trigger=trigger, dry_run=True)
        transaction.set_rollback(True)
    return outcome


def find_missing_objects(bucket: str) -> list[S3Object]:
    """Objects under the nine stream prefixes of ``bucket`` with no ImportFile (nor ledger entry) for
    their key and ETag."""
    client = s3_storage(bucket).connection.meta.client
    paginator = client.get_paginator("list_objects_v2")
    missing: list[S3Object] = []
    for stream in STREAM_NAMES:
        pages = paginator.paginate(Bucket=bucket, Prefix=f"{stream}/", PaginationConfig={"PageSize": LIST_PAGE_SIZE})
        for page in pages:
            contents = [o for o in page.get("Contents", []) if not o["Key"].endswith("/")]
            if not contents:
                continue
            known = set(
                ImportFile.objects.filter(bucket=bucket, key__in=[o["Key"] for o in contents]).values_list(
                    "key", "etag"
                )
            ) | known_in_ledger(bucket, [o["Key"] for o in contents])  # imported, then pruned
            for o in contents:
                etag = o.get("ETag", "").strip('"')
                if (o["Key"], etag) in known:
                    continue
                size, modified = o.get("Size"), o.get("LastModified")
                missing.append(S3Object(bucket=bucket, key=o["Key"], etag=etag, size=size, event_time=modified))
    return missing


def reimport_missing(
    bucket: str,
    *,
    sync: bool = False,
    dry_run: bool = False,
    enqueue: Callable[[int], None] | None = None,
    progress: Callable[[int], None] | None = None,
) -> ReimportReport:
    """Register and import every object of the bucket that no notification announced."""
    missing = find_missing_objects(bucket)
    if dry_run:
        return ReimportReport(dry_run=True, missing=missing)
    files = []
    registered = []
    for obj in missing:
        f, created = register_s3_object(obj, registered_by="sweep")
        files.append(f)
        if created:
            registered.append(f.pk)
    report = reimport_files(files, sync=sync, trigger="sweep", enqueue=enqueue, progress=progress)
    report.missing = missing
    report.registered = registered
    return report
