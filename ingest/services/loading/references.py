"""Placeholders: rows that an applied upsert refers to before their own event has arrived.

A placeholder is created (key only, ``is_placeholder``) for each reference of an applied
upsert that names no row; it never overwrites a row (``ON CONFLICT DO NOTHING``), and its own
event fills it later (the version guard lets any event beat a placeholder's empty version).
When a newer version of a row names another parent, a placeholder nothing names any more is
removed.

Concurrency (PostgreSQL): a batch holds ``FOR KEY SHARE`` on every parent its rows name
until commit, and a batch removing orphans locks them ``FOR UPDATE`` first and then deletes
in a new statement; so a placeholder is never removed while another transaction is about to
commit a row that names it, and a batch that finds a parent vanishing under it creates it again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ingest.services.importing.rows import RowEvent
from ingest.services.loading.dialect import Db
from ingest.services.loading.tables import ParentRef, TableSql, parent_table, qn, referrers


@dataclass(frozen=True)
class ParentWork:
    """The placeholder SQL for one reference column of a merge (read from the merge's rows ``w``)."""

    ref: ParentRef
    ctes: tuple[str, ...]  # PostgreSQL: inside the merge statement
    counts: tuple[str, ...]  # PostgreSQL: created, held, needed
    sqlite_insert: str


def placeholder_sql(ref: ParentRef, psql: TableSql, key_col: str, ph: str, held: str) -> ParentWork:
    p, k, col = psql.table, qn(key_col), qn(ref.attname)
    insert = (
        f"INSERT INTO {p} ({k}, is_deleted, is_placeholder, last_import_id)"
        f" SELECT DISTINCT w.{col}, false, true, CAST(%s AS bigint) FROM w WHERE w.{col} IS NOT NULL ORDER BY 1"
        f" ON CONFLICT ({k}) DO NOTHING RETURNING {k}"
    )
    ctes = (
        f"{ph} AS ({insert})",
        f"{held} AS (SELECT p.{k} FROM {p} p WHERE p.{k} IN (SELECT w.{col} FROM w) ORDER BY p.{k} FOR KEY SHARE)",
    )
    counts = (
        f"(SELECT count(*) FROM {ph})",
        f"(SELECT count(*) FROM {held})",
        f"(SELECT count(DISTINCT w.{col}) FROM w)",
    )
    return ParentWork(ref, ctes, counts, insert)


def applied_references(db: Db, sql: TableSql, events: list[RowEvent], col: str) -> set[Any]:
    """(PostgreSQL) the values of ``col`` in the rows that now hold one of ``events``."""
    keys = [qn(k) for k in sql.key_cols]
    casts = ", ".join(f"%s::{sql.db_types[k]}[]" for k in sql.key_cols)
    join = " AND ".join(f"c.{k} = s.{k}" for k in keys)
    arrays = [list(column) for column in zip(*(ev.key for ev in events), strict=True)]
    db.execute(
        f"SELECT DISTINCT c.{qn(col)} FROM {sql.table} c"
        f" JOIN unnest({casts}, %s::text[]) AS s({', '.join(keys)}, event_id) ON {join}"
        f" WHERE c.source_event_id = s.event_id AND c.{qn(col)} IS NOT NULL",
        [*arrays, [ev.event_id for ev in events]],
    )
    return {row[0] for row in db.fetchall()}


def staged_references(db: Db, sql: TableSql, stage: str, col: str) -> set[Any]:
    """(PostgreSQL) ``applied_references`` of the events whose rows the staging table ``stage`` holds."""
    join = " AND ".join(f"c.{qn(k)} = s.{qn(k)}" for k in sql.key_cols)
    db.execute(
        f"SELECT DISTINCT c.{qn(col)} FROM {sql.table} c JOIN {stage} s ON {join}"
        f" WHERE c.source_event_id = s.source_event_id AND c.{qn(col)} IS NOT NULL"
    )
    return {row[0] for row in db.fetchall()}


def ensure_placeholders(db: Db, parent: str, keys: set[Any], import_id: int | None) -> int:
    """Create a placeholder for each of ``keys`` that has no row and hold them all ``FOR KEY SHARE``;
    returns how many were created. The merge does this itself; this is its slow path, for when
    a parent it named vanished under it (a concurrent orphan removal)."""
    if not keys:
        return 0
    psql, key_col = parent_table(parent, db.connection)
    k, key_type = qn(key_col), psql.db_types[key_col]
    created = 0
    missing = sorted(keys)
    for _round in range(5):
        db.execute(
            f"INSERT INTO {psql.table} ({k}, is_deleted, is_placeholder, last_import_id)"
            f" SELECT x, false, true, CAST(%s AS bigint) FROM unnest(%s::{key_type}[]) AS x"
            f" ON CONFLICT ({k}) DO NOTHING RETURNING {k}",
            [import_id, missing],
        )
        created += len(db.fetchall())
        db.execute(
            f"SELECT {k} FROM {psql.table} WHERE {k} = ANY(%s::{key_type}[]) ORDER BY {k} FOR KEY SHARE",
            [sorted(keys)],
        )
        missing = sorted(keys - {r[0] for r in db.fetchall()})
        if not missing:
            return created
    raise RuntimeError(f"could not hold placeholders of {parent}: rows keep disappearing")


def remove_orphan_placeholders(db: Db, parent: str, keys: set[Any]) -> int:
    """Delete the placeholders among ``keys`` that no row refers to any more; returns how many."""
    if not keys:
        return 0
    psql, key_col = parent_table(parent, db.connection)
    k = qn(key_col)
    ordered = sorted(keys)
    if db.is_postgres:
        # Lock first: a transaction holding one of them FOR KEY SHARE (about to commit a row
        # naming it) is waited for, and the DELETE's snapshot, taken after, then sees its row.
        for where, params in db.key_filter(key_col, psql.db_types[key_col], ordered):
            db.execute(f"SELECT {k} FROM {psql.table} WHERE {where} AND is_placeholder ORDER BY {k} FOR UPDATE", params)
            db.fetchall()
    not_referenced = " AND ".join(
        f"NOT EXISTS (SELECT 1 FROM {child} WHERE {child}.{col} = {psql.table}.{k})"
        for child, col in referrers(parent, db.vendor)
    )
    removed = 0
    for where, params in db.key_filter(key_col, psql.db_types[key_col], ordered):
        db.execute(f"DELETE FROM {psql.table} WHERE {where} AND is_placeholder AND {not_referenced}", params)
        removed += db.rowcount
    return removed
