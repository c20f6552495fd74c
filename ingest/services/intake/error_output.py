"""Firehose's failed records: every object of its error output (``errors/{stream}/…``) registered,
one ``FailedRecord`` per line, as Firehose wrote it.

Firehose writes one JSON document per line (``attemptsMade``, ``arrivalTimestamp``,
``errorCode``, ``errorMessage``, ``attemptEndingTimestamp``, ``rawData``: base64 of the body
System Two posted, ``lambdaArn``). A line that is not such a document is kept too, with the
reason: nothing that arrived is lost. Redriving them is ``ingest.services.repair.redrive``.

The objects are read as hostile input: a line longer than ``INGEST_MAX_ERROR_LINE_BYTES`` is one
record holding its first bytes and its length (never held whole, read in linear time), text is
stored as any database can hold it (U+0000 as ``\x00``, a lone surrogate escaped), numbers out of
their column's range are dropped, and an object whose GZIP is corrupt is registered with the
reason and no records. Whatever an object holds, its notification is answered and deleted.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from datetime import UTC, datetime
from functools import partial

from django.conf import settings
from django.db import DataError, IntegrityError, transaction

from ingest.models import ErrorOutputFile, FailedRecord
from ingest.services.importing.line_errors import EXCERPT_BYTES, excerpt_text, storable_text
from ingest.services.importing.sources import CorruptSource, SourceMissing, open_source, source_damage
from ingest.services.observing import prometheus
from transforms.events import InvalidEvent, parse_event
from transforms.streams import STREAM_NAMES
from transforms.system_one.lines import OverlongLine, iter_lines

logger = logging.getLogger(__name__)

ERROR_PREFIX = "errors/"
INSERT_BATCH = 1000
# attempts_made is a PositiveIntegerField: PostgreSQL's integer.
_MAX_ATTEMPTS = 2**31 - 1


def is_error_key(key: str) -> bool:
    """An object of Firehose's error output (the bucket notifies these to the failed-records queue)."""
    return key.lstrip("/").startswith(ERROR_PREFIX)


def stream_of_error_key(key: str) -> str:
    """``errors/{stream}/processing-failed/…`` -> the stream; '' when the key names none."""
    parts = key.lstrip("/").split("/")
    return parts[1] if len(parts) > 2 and parts[1] in STREAM_NAMES else ""


def _time(ms: object) -> datetime | None:
    if isinstance(ms, bool) or not isinstance(ms, int | float):
        return None
    try:
        return datetime.fromtimestamp(ms / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _text(value: object, limit: int | None = None) -> str:
    """A field as storable text (escaped first, then cut to the column's length)."""
    if isinstance(value, str):
        text = value
    elif value is None:
        text = ""
    else:
        try:
            text = json.dumps(value)
        except (ValueError, RecursionError):
            text = repr(value)
    # A lone surrogate (JSON's "\ud800") cannot be written as UTF-8: escape it.
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    text = storable_text(text)
    return text[:limit] if limit else text


def _attempts(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= _MAX_ATTEMPTS:
        return value
    return None


def record_from_line(error_file: ErrorOutputFile, line_number: int, raw: bytes) -> FailedRecord:
    """One line of an error-output object as a FailedRecord (unsaved)."""
    record = FailedRecord(error_file=error_file, line_number=line_number, stream=error_file.stream)
    try:
        doc = json.loads(raw)
        if not isinstance(doc, dict):
            raise ValueError(f"a JSON {type(doc).__name__}, not an object")
    except (ValueError, RecursionError) as exc:  # RecursionError: JSON nested too deeply
        record.error_code = "Ingest.UnreadableErrorLine"
        record.error_message = storable_text(raw.decode("utf-8", "backslashreplace"))
        record.reason = _text(f"line {line_number} of the error output is not a Firehose error record: {exc}")
        return record
    record.attempts_made = _attempts(doc.get("attemptsMade"))
    record.arrival_at = _time(doc.get("arrivalTimestamp"))
    record.attempt_ending_at = _time(doc.get("attemptEndingTimestamp"))
    record.error_code = _text(doc.get("errorCode"), 255)
    record.error_message = _text(doc.get("errorMessage"))
    record.raw_data = _text(doc.get("rawData"))
    record.lambda_arn = _text(doc.get("lambdaArn"), 2048)
    record.reason = ": ".join(part for part in (record.error_code, record.error_message) if part)
    # Firehose says only that the Lambda failed the record; today's transform says which field and
    # why (the contract drift page groups the records by it). A record it passes (a release with a
    # bug rejected it) keeps Firehose's message until a redrive.
    verdict = _transform_verdict(record)
    if verdict:
        record.reason = verdict
    return record


def _transform_verdict(record: FailedRecord) -> str:
    body = raw_event(record) if record.stream and record.raw_data else None
    if body is None:
        return ""
    try:
        parse_event(body, record.stream)
    except InvalidEvent as exc:
        return str(exc)
    return ""


def overlong_record(error_file: ErrorOutputFile, line_number: int, line: OverlongLine, limit: int) -> FailedRecord:
    """A line longer than ``limit`` (INGEST_MAX_ERROR_LINE_BYTES): its excerpt and length, unread."""
    return FailedRecord(
        error_file=error_file,
        line_number=line_number,
        stream=error_file.stream,
        error_code="Ingest.OverlongErrorLine",
        error_message=excerpt_text(line.excerpt),
        reason=(
            f"line {line_number} of the error output has {line.length} bytes, more than "
            f"INGEST_MAX_ERROR_LINE_BYTES ({limit}); its first {min(line.length, EXCERPT_BYTES)} are kept"
        ),
    )


def register_error_object(
    bucket: str,
    key: str,
    *,
    etag: str = "",
    size: int | None = None,
    event_time: datetime | None = None,
    registered_by: str = "notification",
) -> tuple[ErrorOutputFile, bool]:
    """Register one error-output object and its records; a second call for the same content finds
    the first one's ``ErrorOutputFile`` (returns it with ``False``). Raises if the object cannot be
    read, so that the notification stays in its queue and comes back."""
    etag = etag.strip('"')
    lookup = {"bucket": bucket, "key": key, "etag": etag}
    existing = ErrorOutputFile.objects.filter(**lookup).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            error_file = ErrorOutputFile.objects.create(
                **lookup,
                stream=stream_of_error_key(key),
                size=size,
                s3_event_time=event_time,
                registered_by=registered_by,
            )
            try:
                with transaction.atomic():  # a savepoint: an object that cannot be read keeps no records
                    count, error_file.error_message = _store_records(error_file)
            except (SourceMissing, CorruptSource, DataError, IntegrityError, UnicodeError) as exc:
                # Gone or replaced before we read it, corrupt GZIP, or (a bug of ours) a value the
                # database refused: recorded with the reason, so that the notification does not
                # loop to the dead-letter queue; the object stays in S3.
                count = 0
                error_file.error_message = storable_text(f"{type(exc).__name__}: {exc}"[:2000])
                logger.error("error-output file s3://%s/%s could not be read: %s", bucket, key, exc)
            ErrorOutputFile.objects.filter(pk=error_file.pk).update(
                records_count=count, error_message=error_file.error_message
            )
            error_file.records_count = count
            transaction.on_commit(partial(prometheus.REJECTED.labels(error_file.stream or "unknown").inc, count))
    except IntegrityError:
        # Another consumer registered the same object meanwhile.
        return ErrorOutputFile.objects.get(**lookup), False
    logger.warning(
        "registered %s failed record(s) of stream %s from s3://%s/%s",
        count,
        error_file.stream or "?",
        bucket,
        key,
    )
    return error_file, True


def _store_records(error_file: ErrorOutputFile) -> tuple[int, str]:
    """Store the object's records; (how many, what cut the object short: '' if nothing)."""
    count = 0
    batch: list[FailedRecord] = []
    limit = settings.INGEST_MAX_ERROR_LINE_BYTES
    with open_source(error_file.bucket, error_file.key, error_file.etag) as stream:
        # Firehose's lines hold one record each (a record of at most 1,000 KiB is 1.33 MiB of
        # base64); a longer line is no Firehose record, and is not held whole.
        for line_number, raw in iter_lines(stream, max_line_bytes=limit):
            if isinstance(raw, OverlongLine):
                batch.append(overlong_record(error_file, line_number, raw, limit))
            elif not raw.strip():
                continue
            else:
                batch.append(record_from_line(error_file, line_number, raw.rstrip(b"\r\n")))
            if len(batch) >= INSERT_BATCH:
                FailedRecord.objects.bulk_create(batch)
                count += len(batch)
                batch = []
        damage = source_damage(stream)
    FailedRecord.objects.bulk_create(batch)
    if damage:
        damage = f"{damage}: the records before the cut are registered; re-register the whole object when it is there"
    return count + len(batch), damage


def raw_event(record: FailedRecord) -> bytes | None:
    """The body System Two posted (decoded rawData); None when rawData is not base64."""
    try:
        return base64.b64decode(record.raw_data, validate=True)
    except (binascii.Error, ValueError):
        return None
