"""Reading a snapshot: its header, then each line as a checked row or a line error.

A full row is checked exactly as the import path checks an event: the transform's validation and
System One line (``parse_event``, ``write_record``), then the importer's ``LineParser``, so that
its values are typed as the loader would write them. A versions row is checked by the contract's
rules for it (the key by the same checkers the transform uses for keys).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, BinaryIO

from django.conf import settings

from ingest.services.importing.line_errors import damaged_source, overlong_line, rejected_line
from ingest.services.importing.parsing import LineParser, LineRejected, exact_in_postgres
from ingest.services.importing.rows import RowEvent
from ingest.services.importing.sources import (
    CheckedGzip,
    SourceMissing,
    counted,
    open_local,
    open_s3_object,
    source_damage,
)
from ingest.services.intake.registration import parse_s3_uri
from transforms.events import InvalidEvent, parse_event, value_checker
from transforms.streams import STREAM_NAMES, STREAMS, StreamSpec
from transforms.system_one.lines import OverlongLine, iter_lines
from transforms.timestamps import check_timestamp, to_datetime

FULL = "full"
VERSIONS = "versions"


class SnapshotError(ValueError):
    """The snapshot cannot be reconciled at all (unreadable, bad header, unknown stream)."""


@dataclass(frozen=True)
class Header:
    stream: str
    taken_at: datetime
    complete: bool
    rows: str  # FULL or VERSIONS

    @property
    def full(self) -> bool:
        return self.rows == FULL


@dataclass(slots=True)
class SnapshotRow:
    """One valid line: the key (as the loader holds it, and as the contract's JSON object), the
    version, occurredAt and deleted state; for full rows the event as the loader takes it."""

    line_number: int
    key: tuple[Any, ...]
    version: int
    occurred_at: datetime
    occurred_text: str
    deleted: bool
    event: RowEvent | None  # full rows only
    line: str | None  # full rows only: the line itself, to repair from later


LineError = tuple[int, str, str]  # (line number, raw text, message), as an import's line errors


@dataclass(frozen=True)
class Source:
    """Where a snapshot is: an S3 object or a local file."""

    uri: str
    bucket: str = ""
    key: str = ""
    etag: str = ""

    @classmethod
    def parse(cls, uri: str, etag: str = "") -> Source:
        if uri.startswith("s3://"):
            bucket, key = parse_s3_uri(uri)
            return cls(uri, bucket, key, etag)
        return cls(uri, "", uri, etag)

    @property
    def name(self) -> str:
        return self.key.rsplit("/", 1)[-1]


@contextmanager
def open_snapshot(
    source: Source,
    progress: Callable[[int], None] | None = None,
    size_known: Callable[[int | None], None] | None = None,
) -> Iterator[BinaryIO]:
    """The snapshot's bytes, GZIP-decompressed when its name ends in ``.gz`` (the contract's rule).
    ``size_known(n)`` is told the stored size once the object is open, ``progress(n)`` of every
    ``n`` stored bytes read (a command's bar)."""
    try:
        if source.bucket:
            raw, size = open_s3_object(source.bucket, source.key, source.etag)
        else:
            raw = open_local(source.key)
            size = os.fstat(raw.fileno()).st_size
    except SourceMissing as exc:  # gone, refused, or changed since announced; other errors may pass
        raise SnapshotError(f"cannot read {source.uri}: {exc}") from exc
    if size_known is not None:
        size_known(size)
    if progress is not None:
        raw = counted(raw, progress)
    stream: Any = CheckedGzip(raw) if source.name.endswith(".gz") else raw
    try:
        yield stream
    finally:
        stream.close()
        raw.close()


def parse_header(raw: bytes) -> Header:
    try:
        obj = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise SnapshotError(f"the first line is not a JSON header: {exc}") from None
    head = obj.get("snapshot") if isinstance(obj, dict) else None
    if not isinstance(head, dict):
        raise SnapshotError('the first line must be {"snapshot": {"stream", "takenAt", "complete", "rows"}}')
    stream = head.get("stream")
    if not isinstance(stream, str) or stream not in STREAM_NAMES:
        raise SnapshotError(f"unknown stream {stream!r} in the header; the streams are {', '.join(STREAM_NAMES)}")
    taken = head.get("takenAt")
    try:
        check_timestamp(taken, "takenAt")
    except InvalidEvent as exc:
        raise SnapshotError(f"header: {exc}") from None
    complete = head.get("complete")
    if not isinstance(complete, bool):
        raise SnapshotError(f"header: complete must be true or false, got {complete!r}")
    rows = head.get("rows")
    if rows not in (FULL, VERSIONS):
        raise SnapshotError(f'header: rows must be "full" or "versions", got {rows!r}')
    return Header(stream, to_datetime(taken), complete, rows)  # type: ignore[arg-type]


class RowReader:
    """Turns the lines after the header into ``SnapshotRow``s or line errors."""

    def __init__(self, header: Header, *, postgres: bool) -> None:
        self.header = header
        self.spec: StreamSpec = STREAMS[header.stream]
        self.parser = LineParser(self.spec, reject_nul=postgres, text_values=postgres)
        self.key_names = tuple(f.name for f in self.spec.key)
        self.key_checks = tuple((f.name, value_checker(f, key=True)) for f in self.spec.key)
        self.postgres = postgres

    def read(self, raw: bytes, line_number: int) -> SnapshotRow:
        """The row of a line, or ``LineRejected`` saying why it is not one."""
        if self.header.full:
            return self._full(raw, line_number)
        return self._versions(raw, line_number)

    def _full(self, raw: bytes, line_number: int) -> SnapshotRow:
        """The transform's validation (what it rejects is a line error), then the event's column
        values by the importer's own converters (``LineParser``'s builder, fed the event's data
        rather than the System One line the transform would write of it: the same values, without
        writing and reading the line again)."""
        raw = raw.rstrip(b"\r")
        try:
            event = parse_event(raw, self.header.stream)
        except InvalidEvent as exc:
            raise LineRejected(str(exc)) from None
        parser = self.parser
        key = tuple(event["key"][name] for name in self.key_names)
        reject_nul = self.postgres and b"\\u0000" in raw
        if reject_nul and any(isinstance(k, str) and "\x00" in k for k in key):
            raise LineRejected("key: U+0000 cannot be stored in PostgreSQL")
        values = None
        if event["eventType"] != "delete":
            data = event["data"]
            try:
                values = parser._checked_values(data) if reject_nul else parser.build_values(data)
            except (ValueError, ArithmeticError):
                values = parser._checked_values(data)  # raises, naming the field
        occurred = event["occurredAt"]
        when = to_datetime(occurred)
        text = occurred if exact_in_postgres(occurred) else when.isoformat()
        row_event = RowEvent(
            line_number,
            key,
            values is None,
            event["version"],
            when,
            event["eventId"],
            values,
            text if self.postgres else None,
        )
        return SnapshotRow(
            line_number=line_number,
            key=key,
            version=row_event.version,
            occurred_at=when,
            occurred_text=text,
            deleted=row_event.is_delete,
            event=row_event,
            line=raw.decode("utf-8"),
        )

    def _versions(self, raw: bytes, line_number: int) -> SnapshotRow:
        try:
            obj = json.loads(raw)
        except (UnicodeDecodeError, ValueError) as exc:
            raise LineRejected(f"not JSON: {exc}") from None
        if not isinstance(obj, dict):
            raise LineRejected("a versions line must be a JSON object")
        key = obj.get("key")
        try:
            if not isinstance(key, dict) or set(key) != set(self.key_names):
                raise InvalidEvent(f"must have exactly the fields {', '.join(self.key_names)}", "key")
            for name, check in self.key_checks:
                check(key[name], "key." + name)
            version = obj.get("version")
            if type(version) is not int or not 1 <= version <= 2**63 - 1:
                raise InvalidEvent(f"must be an integer >= 1, got {version!r}", "version")
            occurred = obj.get("occurredAt")
            check_timestamp(occurred, "occurredAt")
            deleted = obj.get("deleted")
            if not isinstance(deleted, bool):
                raise InvalidEvent(f"must be true or false, got {deleted!r}", "deleted")
        except InvalidEvent as exc:
            raise LineRejected(str(exc)) from None
        values = tuple(key[name] for name in self.key_names)
        if self.postgres and any(isinstance(v, str) and "\x00" in v for v in values):
            raise LineRejected("key: U+0000 cannot be stored in PostgreSQL")
        when = to_datetime(occurred)  # type: ignore[arg-type]
        return SnapshotRow(
            line_number=line_number,
            key=values,
            version=version,
            occurred_at=when,
            occurred_text=occurred if self.postgres and exact_in_postgres(occurred) else when.isoformat(),  # type: ignore[arg-type]
            deleted=deleted,
            event=None,
            line=raw.decode("utf-8"),
        )


def read_snapshot(
    stream: BinaryIO, *, postgres: bool
) -> tuple[Header, RowReader, Iterator[tuple[SnapshotRow | None, LineError | None]]]:
    """The header (read at once: a bad one raises ``SnapshotError`` before anything happens), the
    reader it calls for, and the rest of the lines as rows or line errors."""
    limit = settings.INGEST_MAX_LINE_BYTES
    lines = iter_lines(stream, max_line_bytes=limit)
    try:
        first = next(lines, None)
    except (OSError, EOFError, ValueError) as exc:  # corrupt GZIP (CorruptSource), a broken file
        raise SnapshotError(f"cannot read the snapshot: {exc}") from exc
    if first is None:
        raise SnapshotError("the snapshot is empty: it has no header line")
    raw = first[1]
    if isinstance(raw, OverlongLine):
        raise SnapshotError("the header line is longer than INGEST_MAX_LINE_BYTES")
    header = parse_header(raw)
    reader = RowReader(header, postgres=postgres)
    return header, reader, _rows(stream, lines, reader, limit)


def _rows(
    stream: BinaryIO, lines: Iterator[tuple[int, bytes | OverlongLine]], reader: RowReader, limit: int
) -> Iterator[tuple[SnapshotRow | None, LineError | None]]:
    last = 1
    for line_number, raw in lines:
        last = line_number
        if source_damage(stream):
            partial = raw.excerpt if isinstance(raw, OverlongLine) else raw
            yield None, damaged_source(line_number, partial, source_damage(stream))
            return
        if isinstance(raw, OverlongLine):
            yield None, overlong_line(line_number, raw, limit)
            continue
        if not raw.strip():
            continue
        try:
            yield reader.read(raw, line_number), None
        except LineRejected as exc:
            yield None, rejected_line(line_number, raw, str(exc))
    if source_damage(stream):
        yield None, damaged_source(last + 1, b"", source_damage(stream))
