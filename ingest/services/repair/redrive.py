"""Redrive: today's transform over the records Firehose rejected; what passes is loaded exactly once.

For one stream at a time, in chunks, ONE transaction per chunk: lock the chunk's ``rejected``
records (``SKIP LOCKED``: two redrives never take the same record), run the transform on each
raw event, write the passing ones as a System One file to
``redrive/{stream}/redrive-{digest}.gz`` (the digest of the record ids and lines, so a retry of
the same chunk writes the same key), register that file as an ``ImportFile`` and mark the
records ``redriven`` with it, and record the new reason on those that still fail. The import
task is enqueued after the commit and the file is then imported like any other (once: its
lock and status guard that). A crash before the commit leaves the records ``rejected`` and
the object unregistered (``redrive/`` is outside the nine prefixes the bucket notifies), so
nothing is loaded twice and nothing is lost. Records of any age can be redriven.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from ingest.models import FailedRecord, FailedRecordStatus, ImportFile
from ingest.services.importing.enqueue import enqueue_import
from ingest.services.importing.sources import s3_storage
from ingest.services.intake.error_output import raw_event
from ingest.services.observing import prometheus
from transforms.events import InvalidEvent, parse_event
from transforms.streams import STREAM_NAMES
from transforms.system_one.writer import write_record

logger = logging.getLogger(__name__)

REDRIVE_PREFIX = "redrive/"
CHUNK_SIZE = 5000


@dataclass
class StreamRedrive:
    stream: str
    passed: int = 0
    still_failing: int = 0
    files: list[int] = field(default_factory=list)  # ImportFile ids
    reasons: dict[str, int] = field(default_factory=dict)


@dataclass
class RedriveReport:
    dry_run: bool
    streams: dict[str, StreamRedrive] = field(default_factory=dict)
    unknown_stream: int = 0  # records whose error-output file names no stream: nothing to transform them for

    @property
    def passed(self) -> int:
        return sum(s.passed for s in self.streams.values())

    @property
    def still_failing(self) -> int:
        return sum(s.still_failing for s in self.streams.values())

    @property
    def files(self) -> list[int]:
        return [pk for s in self.streams.values() for pk in s.files]


def transform_again(record: FailedRecord, stream: str) -> tuple[str | None, str]:
    """The record's System One line by today's transform, or None and the reason it fails."""
    body = raw_event(record)
    if body is None:
        return None, "rawData is not base64" if record.raw_data else "the error record has no rawData"
    try:
        return write_record(parse_event(body, stream), stream), ""
    except InvalidEvent as exc:
        return None, str(exc)


def _write_file(bucket: str, stream: str, records: list[FailedRecord], lines: list[str]) -> tuple[str, str, int]:
    """Put the System One file; returns (key, etag, size). Same records and lines, same key and bytes."""
    digest = hashlib.sha256()
    for record, line in zip(records, lines, strict=True):
        digest.update(f"{record.pk}\0{line}".encode())
    key = f"{REDRIVE_PREFIX}{stream}/redrive-{digest.hexdigest()[:40]}.gz"
    body = gzip.compress("".join(lines).encode("utf-8"), mtime=0)
    response = s3_storage(bucket).bucket.Object(key).put(Body=body, ContentType="application/gzip")
    return key, str(response.get("ETag", "")).strip('"'), len(body)


def _chunk(
    stream: str,
    filters: dict[str, Any],
    after_id: int,
    chunk_size: int,
    dry_run: bool,
    result: StreamRedrive,
    enqueue: Callable[[int], None],
    bucket: str,
    progress: Callable[[int], None] | None = None,
) -> int | None:
    """Redrive one chunk; returns the last record id seen, None when there was nothing left."""
    with transaction.atomic():
        records_qs = FailedRecord.objects.filter(
            status=FailedRecordStatus.REJECTED, stream=stream, pk__gt=after_id, **filters
        ).order_by("pk")
        if connection.features.has_select_for_update_skip_locked:
            records_qs = records_qs.select_for_update(skip_locked=True, of=("self",))
        records = list(records_qs[:chunk_size])
        if not records:
            return None
        if progress is not None:
            transaction.on_commit(partial(progress, len(records)))
        passed: list[FailedRecord] = []
        lines: list[str] = []
        failing: list[FailedRecord] = []
        now = timezone.now()
        for record in records:
            line, reason = transform_again(record, stream)
            if line is None:
                record.reason = reason
                record.redrive_attempts += 1
                record.last_redrive_at = now
                failing.append(record)
                result.reasons[reason[:120]] = result.reasons.get(reason[:120], 0) + 1
            else:
                passed.append(record)
                lines.append(line)
        result.passed += len(passed)
        result.still_failing += len(failing)
        if dry_run:
            return records[-1].pk
        if passed:
            key, etag, size = _write_file(bucket, stream, passed, lines)
            import_file, _created = ImportFile.objects.get_or_create(
                bucket=bucket,
                key=key,
                etag=etag,
                defaults={
                    "stream": stream,
                    "size": size,
                    "received_at": now,
                    "enqueued_at": now,
                    "registered_by": "redrive",
                },
            )
            FailedRecord.objects.filter(pk__in=[r.pk for r in passed]).update(
                status=FailedRecordStatus.REDRIVEN,
                redriven_in=import_file,
                reason="",
                redrive_attempts=F("redrive_attempts") + 1,
                last_redrive_at=now,
            )
            result.files.append(import_file.pk)
            transaction.on_commit(partial(_enqueue, enqueue, import_file.pk))
        FailedRecord.objects.bulk_update(failing, ["reason", "redrive_attempts", "last_redrive_at"], batch_size=1000)
        transaction.on_commit(partial(prometheus.REDRIVEN.labels(stream, "passed").inc, len(passed)))
        transaction.on_commit(partial(prometheus.REDRIVEN.labels(stream, "failed").inc, len(failing)))
        return records[-1].pk


def _enqueue(enqueue: Callable[[int], None], import_file_id: int) -> None:
    try:
        enqueue(import_file_id)
    except Exception as exc:  # the file is registered and pending: the consumer's sweep enqueues it
        logger.warning("could not enqueue redrive file %s (the sweep will): %s", import_file_id, exc)
        ImportFile.objects.filter(pk=import_file_id).update(enqueued_at=None)


def _filters(since: datetime | None, until: datetime | None, record_ids: Iterable[int] | None) -> dict[str, Any]:
    filters: dict[str, Any] = {}
    if since is not None:
        filters["arrival_at__gte"] = since
    if until is not None:
        filters["arrival_at__lt"] = until
    if record_ids is not None:
        filters["pk__in"] = list(record_ids)
    return filters


def records_to_redrive(
    *, stream: str | None = None, since: datetime | None = None, until: datetime | None = None
) -> int:
    """How many failed records ``redrive`` with these filters would look at (a progress bar's total)."""
    records = FailedRecord.objects.filter(status=FailedRecordStatus.REJECTED, **_filters(since, until, None))
    return records.filter(stream=stream).count() if stream else records.exclude(stream="").count()


def redrive(
    *,
    stream: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    record_ids: Iterable[int] | None = None,
    dry_run: bool = False,
    chunk_size: int = CHUNK_SIZE,
    enqueue: Callable[[int], None] = enqueue_import,
    bucket: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> RedriveReport:
    """Run today's transform again over the failed records that match (``since``/``until`` on
    their arrival time); see the module docstring. ``dry_run`` says what would pass and changes nothing."""
    if stream is not None and stream not in STREAM_NAMES:
        raise ValueError(f"unknown stream {stream!r}: one of {', '.join(STREAM_NAMES)}")
    filters = _filters(since, until, record_ids)
    bucket = bucket or settings.INGEST_BUCKET
    report = RedriveReport(dry_run=dry_run)
    report.unknown_stream = FailedRecord.objects.filter(
        status=FailedRecordStatus.REJECTED, stream="", **filters
    ).count()
    for name in [stream] if stream else STREAM_NAMES:
        result = StreamRedrive(name)
        after = 0
        while (
            last := _chunk(name, filters, after, chunk_size, dry_run, result, enqueue, bucket, progress)
        ) is not None:
            after = last
        if result.passed or result.still_failing:
            report.streams[name] = result
            logger.info(
                "redrive%s of %s: %s pass (files %s), %s still fail",
                " (dry run)" if dry_run else "",
                name,
                result.passed,
                result.files,
                result.still_failing,
            )
    return report
