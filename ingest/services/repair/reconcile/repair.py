"""Repairs from a run's drift, through the importer's loader and its version guard.

Each repair reads the drift rows of one category in chunks and applies them with ``apply_batch``
in one short transaction per chunk, under the run's lineage ImportFile (the repaired rows' last
import), so placeholders, the estimate -> order quote rule, counts and the change outbox work as
for an import, and a version that arrived after the snapshot is never overwritten.

* ``missing`` / ``behind``: the snapshot's line is applied exactly as an event of its version.
* ``differs``: the row gets the snapshot's data, deleted state and occurredAt at the same
  version. The guard lets an equal version through only with a later occurredAt (or eventId),
  so inside the chunk's transaction the row's stored version is first lowered by one, where it
  still is the snapshot's (the UPDATE holds the row until the commit); the loader then applies
  the line, which restores the version. A row a newer version reached meanwhile is not lowered,
  and the guard refuses the line.
* ``only_on_website``: the same, with a delete of the row's own version, occurredAt and eventId:
  the row is marked deleted, its version unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.db.models import F, Max

from ingest.models import ChangeNotification, ImportFile
from ingest.models.reconciliation import Category, ReconciliationDrift, ReconciliationRun, Resolution
from ingest.services.changes import outbox as changes
from ingest.services.importing import lifecycle
from ingest.services.importing.rows import RowEvent, as_utc
from ingest.services.loading import BatchCounts, apply_batch
from ingest.services.loading.dialect import Db
from ingest.services.loading.tables import qn, table_sql
from ingest.services.repair.reconcile.snapshot import FULL, Header, RowReader
from transforms.streams import STREAMS

REPAIR_CHUNK = 2_000


@dataclass
class Repaired:
    applied: int = 0
    superseded: int = 0


def lineage_file(run: ReconciliationRun) -> ImportFile:
    """The ImportFile the run's repaired rows name as their last import (made at its first repair)."""
    if run.lineage_id is not None:
        return ImportFile.objects.get(pk=run.lineage_id)
    f = lifecycle.record_repair_file(
        bucket=run.bucket, key=run.key or run.source, etag=f"reconciliation-run-{run.pk}", registered_by="reconcile"
    )
    ReconciliationRun.objects.filter(pk=run.pk).update(lineage=f)
    run.lineage = f
    return f


def _open_drift(run: ReconciliationRun, categories: tuple[str, ...]) -> Iterator[list[ReconciliationDrift]]:
    after = 0
    while True:
        chunk = list(
            ReconciliationDrift.objects.filter(
                run=run, category__in=categories, resolution=Resolution.OPEN, pk__gt=after
            ).order_by("pk")[:REPAIR_CHUNK]
        )
        if not chunk:
            return
        after = chunk[-1].pk
        yield chunk


def _reader(run: ReconciliationRun) -> RowReader:
    assert run.taken_at is not None
    header = Header(run.stream, run.taken_at, run.complete, FULL)
    return RowReader(header, postgres=connection.vendor == "postgresql")


def _changed_keys(counts: BatchCounts) -> set[tuple[Any, ...]]:
    return {tuple(k) for k in (*counts.created_keys, *counts.updated_keys, *counts.deleted_keys)}


def _record(f: ImportFile, counts: BatchCounts, lines: int) -> None:
    """The chunk's changes into the outbox, and its counts onto the lineage file."""
    part = (ChangeNotification.objects.filter(import_file=f).aggregate(n=Max("part"))["n"] or 0) + 1
    changes.record_changes(f, counts, part)
    counts.clear_keys()
    ImportFile.objects.filter(pk=f.pk).update(
        lines_total=F("lines_total") + lines,
        rows_created=F("rows_created") + counts.created,
        rows_updated=F("rows_updated") + counts.updated,
        rows_stale=F("rows_stale") + counts.stale,
        rows_deleted=F("rows_deleted") + counts.deleted,
        placeholders_created=F("placeholders_created") + counts.placeholders,
    )
    changes.dispatch_after_commit(f.pk)


def _resolve(chunk: list[ReconciliationDrift], keys: list[tuple[Any, ...]], changed: set[tuple[Any, ...]]) -> Repaired:
    done = [d.pk for d, k in zip(chunk, keys, strict=True) if k in changed]
    other = [d.pk for d, k in zip(chunk, keys, strict=True) if k not in changed]
    ReconciliationDrift.objects.filter(pk__in=done).update(resolution=Resolution.REPAIRED)
    ReconciliationDrift.objects.filter(pk__in=other).update(resolution=Resolution.SUPERSEDED)
    return Repaired(len(done), len(other))


def _lower_versions(stream: str, rows: list[tuple[tuple[Any, ...], int]], returning: bool) -> list[tuple[Any, ...]]:
    """Lower by one the stored version of each (key, version) still at that version; with
    ``returning``, the keys, eventIds and occurredAts of the rows lowered."""
    if not rows:
        return []
    db = Db(connection)
    try:
        sql = table_sql(stream, connection)
        cols = [(c, sql.db_types[c]) for c in sql.key_cols] + [("v", "bigint")]
        staged = db.stage(sql.table + "|lower", cols, [(*key, version) for key, version in rows])
        join = " AND ".join(f"s.{qn(c)} = {sql.table}.{qn(c)}" for c in sql.key_cols)
        ret = ", ".join(qn(c) for c in (*sql.key_cols, "source_event_id", "source_occurred_at"))
        with_cte = f"WITH {staged.cte} " if staged.cte else ""
        db.execute(
            f"{with_cte}UPDATE {sql.table} SET source_version = source_version - 1"
            f" WHERE EXISTS (SELECT 1 FROM {staged.name} s WHERE {join} AND s.v = {sql.table}.source_version)"
            + (f" RETURNING {ret}" if returning else ""),
            staged.params,
        )
        return db.fetchall() if returning else []
    finally:
        db.close()


def _key_of(text: str, names: tuple[str, ...]) -> tuple[Any, ...]:
    obj = json.loads(text)
    return tuple(obj[n] for n in names)


def _apply_lines(run: ReconciliationRun, categories: tuple[str, ...], lower: bool) -> Repaired:
    spec = STREAMS[run.stream]
    reader = _reader(run)
    total = Repaired()
    for chunk in _open_drift(run, categories):
        events: list[RowEvent] = []
        for d in chunk:
            event = reader.read(d.snapshot_line.encode("utf-8"), d.line_number or 0).event
            assert event is not None, "a full snapshot's drift keeps its line"
            events.append(event)
        keys = [ev.key for ev in events]
        with transaction.atomic():
            f = lineage_file(run)
            if lower:
                _lower_versions(
                    run.stream, [(k, int(d.snapshot_version or 0)) for k, d in zip(keys, chunk, strict=True)], False
                )
            counts = apply_batch(events, spec, f.pk, collect_keys=True)
            done = _resolve(chunk, keys, _changed_keys(counts))
            _record(f, counts, len(events))
        total.applied += done.applied
        total.superseded += done.superseded
    return total


def apply_missing_behind(run: ReconciliationRun) -> Repaired:
    """``missing`` and ``behind`` keys get the snapshot's full row, as an event of its version."""
    if run.rows_kind != FULL:
        return Repaired()
    return _apply_lines(run, (Category.MISSING, Category.BEHIND), lower=False)


def apply_content(run: ReconciliationRun) -> Repaired:
    """``differs`` rows get the snapshot's data, deleted state and occurredAt at the same version."""
    if run.rows_kind != FULL:
        return Repaired()
    return _apply_lines(run, (Category.DIFFERS,), lower=True)


def apply_deletes(run: ReconciliationRun) -> Repaired:
    """``only_on_website`` rows marked deleted, version unchanged (a later upsert brings them back)."""
    if run.rows_kind != FULL:  # a versions snapshot cannot repair (the contract)
        return Repaired()
    spec = STREAMS[run.stream]
    names = tuple(f.name for f in spec.key)
    total = Repaired()
    for chunk in _open_drift(run, (Category.ONLY_ON_WEBSITE,)):
        keys = [_key_of(d.key_json, names) for d in chunk]
        version_of = {k: d.website_version for k, d in zip(keys, chunk, strict=True)}
        with transaction.atomic():
            f = lineage_file(run)
            lowered = _lower_versions(
                run.stream, [(k, int(d.website_version or 0)) for k, d in zip(keys, chunk, strict=True)], True
            )
            width = len(names)
            events = []
            for row in lowered:
                key = tuple(row[:width])
                event_id, occurred = row[width], row[width + 1]
                events.append(_delete_event(key, version_of[key], event_id, occurred))
            counts = apply_batch(events, spec, f.pk, collect_keys=True) if events else BatchCounts()
            done = _resolve(chunk, keys, _changed_keys(counts))
            _record(f, counts, len(chunk))
        total.applied += done.applied
        total.superseded += done.superseded
    return total


def _delete_event(key: tuple[Any, ...], version: Any, event_id: Any, occurred: Any) -> RowEvent:
    if isinstance(occurred, str):  # SQLite hands back its text
        from django.utils.dateparse import parse_datetime

        occurred = parse_datetime(occurred)
    return RowEvent(0, key, True, int(version), as_utc(occurred), event_id or "", None)


REPAIRS: dict[str, tuple[str, Callable[[ReconciliationRun], Repaired]]] = {
    "apply": ("repaired", apply_missing_behind),
    "apply_content": ("content_repaired", apply_content),
    "apply_deletes": ("deletes_applied", apply_deletes),
}
