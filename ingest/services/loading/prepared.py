"""A batch made ready for PostgreSQL where its lines were parsed: the winners' staging rows as COPY text.

A big file's lines are parsed in a second process (``ingest.services.importing.parse_process``)
so that parsing and the database overlap without sharing the GIL. That process also picks each
key's winning event (``batch.pick_winners``) and writes the winners' staging rows
(``upsert.row_builder``) in COPY's text format with psycopg's own writer, exactly the bytes
``Copy.write_row`` would send; the importer's process then only copies them into the staging
table and runs the same guarded merge (``upsert.merge_text``) as for any other batch.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass
from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper

from ingest.services.importing.rows import RowEvent
from ingest.services.loading.batch import BatchCounts, apply_winners, pick_winners
from ingest.services.loading.dialect import CopyTextWriter, Db
from ingest.services.loading.references import staged_references
from ingest.services.loading.tables import TableSql, table_sql
from ingest.services.loading.upsert import MergeResult, merge_text, row_builder
from ingest.services.observing.event_clock import stamps_of
from transforms.streams import StreamSpec


@dataclass
class PreparedBatch:
    """A batch's winning events (``batch.Winners``) as COPY text, and what the import needs of its events."""

    upserts: int
    upsert_text: bytes
    deletes: int
    delete_text: bytes
    beaten: int  # events a later one of their key beat within the batch (stale)
    stamps: array[int]  # every event's occurredAt, for the import's clock (``event_clock.stamps_of``)

    def merge(
        self, db: Db, sql: TableSql, import_id: int | None, *, delete: bool, collect: bool, watched: tuple[str, ...]
    ) -> MergeResult:
        text, rows = (self.delete_text, self.deletes) if delete else (self.upsert_text, self.upserts)
        return merge_text(db, sql, text, rows, import_id, delete=delete, collect=collect, watched=watched)

    def references(self, db: Db, sql: TableSql, upserted: MergeResult, col: str) -> set[Any]:
        # The staging table still holds the upserts' rows: their keys and eventIds.
        return staged_references(db, sql, upserted.stage, col)


class BatchPreparer:
    """Made where the database connection is (the table's staging rows are known there); used
    where the lines are parsed, which touches neither the connection nor the server."""

    def __init__(self, spec: StreamSpec, connection: BaseDatabaseWrapper) -> None:
        if connection.vendor != "postgresql":
            raise ValueError("batches are prepared as COPY text for PostgreSQL only")
        db = Db(connection)
        try:
            sql = table_sql(spec.name, connection)
            self._build = {delete: row_builder(sql, db, delete) for delete in (False, True)}
        finally:
            db.close()
        self._text = CopyTextWriter(connection)

    def prepare(self, events: list[RowEvent]) -> PreparedBatch:
        winners, beaten = pick_winners(events)
        rows: dict[bool, list[tuple[Any, ...]]] = {False: [], True: []}
        for ev in winners.values():
            rows[ev.is_delete].append(self._build[ev.is_delete](ev))
        return PreparedBatch(
            upserts=len(rows[False]),
            upsert_text=self._text.write(rows[False]),
            deletes=len(rows[True]),
            delete_text=self._text.write(rows[True]),
            beaten=beaten,
            stamps=stamps_of(events),
        )


def apply_prepared(
    prepared: PreparedBatch,
    spec: StreamSpec,
    import_id: int | None,
    *,
    collect_keys: bool = False,
    connection: BaseDatabaseWrapper | None = None,
) -> BatchCounts:
    """``batch.apply_batch`` for a prepared batch: what it did, the events beaten within it counted stale."""
    counts = BatchCounts(stale=prepared.beaten)
    if prepared.upserts or prepared.deletes:
        apply_winners(prepared, spec, import_id, counts, collect_keys, connection)
    return counts
