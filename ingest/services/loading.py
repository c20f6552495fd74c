"""Writes batches of events into the website tables, idempotently and in any order of arrival.

One ``INSERT ... ON CONFLICT (natural key) DO UPDATE ... WHERE <version guard>`` per batch:
the guard (stored version lower, or equal with an earlier occurredAt, or equal with a lower
eventId as the last tie-break so that every order of arrival converges) is evaluated by the
database on the row it locks, so two workers writing the same keys at once cannot lose an
update. The same SQL runs on SQLite (3.35+) and PostgreSQL.

Besides the rows themselves a batch maintains what the contract derives from them:
placeholders for referenced rows that have not arrived, the removal of placeholders that
nothing refers to any more, and ``Order.quote_number``/``quote_version`` from the estimates.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from django.db import connection as default_connection
from django.db.backends.base.base import BaseDatabaseWrapper

from ingest.services.rows import RowEvent, stored_rank
from transforms.streams import STREAMS, StreamSpec
from website.models import MODELS_BY_STREAM

META_COLUMNS = (
    "source_version",
    "source_event_id",
    "source_occurred_at",
    "is_deleted",
    "is_placeholder",
    "last_import_id",
)

# SQLite allows 32766 bound parameters per statement.
SQLITE_MAX_PARAMS = 32000

# Estimates of one order decide its quote together; serialising estimate batches across
# workers makes the recomputation see every committed estimate (PostgreSQL only).
ESTIMATES_LOCK_ID = zlib.crc32(b"ingest:estimates")


@dataclass
class BatchCounts:
    created: int = 0
    updated: int = 0
    stale: int = 0
    deleted: int = 0
    placeholders: int = 0

    def add(self, other: BatchCounts) -> None:
        self.created += other.created
        self.updated += other.updated
        self.stale += other.stale
        self.deleted += other.deleted
        self.placeholders += other.placeholders


@dataclass(frozen=True)
class StoredState:
    rank: tuple | None
    is_placeholder: bool
    refs: dict[str, Any]


@dataclass(frozen=True)
class ParentRef:
    """A column of this table that names a row of another (single-key) table."""

    attname: str
    parent: str  # stream name


@dataclass
class TableSql:
    """The SQL of one stream's table for one database vendor, built once."""

    spec: StreamSpec
    vendor: str
    table: str
    key_cols: tuple[str, ...]
    data_cols: tuple[str, ...]
    refs: tuple[ParentRef, ...]
    db_types: dict[str, str] = field(default_factory=dict)
    adapters: dict[str, Callable[[Any], Any]] = field(default_factory=dict)

    @property
    def is_postgres(self) -> bool:
        return self.vendor == "postgresql"


def _qn(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@cache
def _table_sql(stream: str, vendor: str) -> TableSql:
    spec = STREAMS[stream]
    model = MODELS_BY_STREAM[stream]
    key_cols = tuple(f.attname for f in spec.key)
    data_cols = tuple(attname for _path, attname, _spec in spec.columns() if attname not in key_cols)
    refs = tuple(ParentRef(f.attname, f.references.stream) for f in spec.references)
    return TableSql(spec, vendor, _qn(model._meta.db_table), key_cols, data_cols, refs)


def table_sql(stream: str, connection: BaseDatabaseWrapper) -> TableSql:
    """The table's SQL, with per-column types and value adapters for this connection."""
    sql = _table_sql(stream, connection.vendor)
    if not sql.db_types:
        model = MODELS_BY_STREAM[stream]
        for attname in (*sql.key_cols, *sql.data_cols, *META_COLUMNS):
            model_field = next(f for f in model._meta.concrete_fields if f.attname == attname)
            sql.db_types[attname] = model_field.db_type(connection)
            internal = model_field.get_internal_type()
            if internal == "JSONField":
                # PostgreSQL gets JSON text in a text[] and casts it; SQLite stores the text.
                sql.adapters[attname] = json.dumps
            elif not sql.is_postgres and internal in {"DateTimeField", "DateField", "DecimalField"}:
                sql.adapters[attname] = lambda v, _f=model_field, _c=connection: _f.get_db_prep_save(v, _c)
    return sql


class _Db:
    """Executes the loader's statements: Django's cursor on SQLite; on PostgreSQL a psycopg cursor
    with server-side binding, so that a batch travels as one array per column instead of
    tens of thousands of literal parameters."""

    def __init__(self, connection: BaseDatabaseWrapper) -> None:
        self.connection = connection
        self.vendor = connection.vendor
        self.is_postgres = self.vendor == "postgresql"
        if self.is_postgres:
            import psycopg

            connection.ensure_connection()
            self.cursor = psycopg.Cursor(connection.connection)
        else:
            self.cursor = connection.cursor()

    def execute(self, query: str, params: Sequence[Any] = ()) -> None:
        # Django's exception classes for the raw cursor too, so callers tell deadlocks and
        # lost connections apart the same way on both paths.
        with self.connection.wrap_database_errors:
            self.cursor.execute(query, params)

    def fetchall(self) -> list[tuple]:
        return self.cursor.fetchall()

    @property
    def rowcount(self) -> int:
        return self.cursor.rowcount or 0

    def close(self) -> None:
        self.cursor.close()

    def rows_source(self, sql: TableSql, cols: Sequence[str], rows: list[tuple]) -> Iterable[tuple[str, list[Any]]]:
        """``SELECT ... FROM unnest(arrays)`` (PostgreSQL) or ``VALUES (...), ...`` (SQLite) chunks."""
        if not rows:
            return
        if self.is_postgres:
            yield self._staged(sql, cols, rows), []
            return
        row_sql = "(" + ", ".join(["%s"] * len(cols)) + ")"
        for chunk in _chunks(rows, len(cols)):
            yield f"VALUES {', '.join([row_sql] * len(chunk))}", [v for row in chunk for v in row]

    def _staged(self, sql: TableSql, cols: Sequence[str], rows: list[tuple]) -> str:
        """COPY the rows into a temporary staging table and return the SELECT that reads them.

        COPY is PostgreSQL's fastest way in (psycopg formats the rows in C); the table lives
        until the end of the transaction, and is emptied before each batch.
        """
        signature = f"{sql.table}|{','.join(cols)}".encode()
        stage = f"ingest_stage_{hashlib.sha1(signature, usedforsecurity=False).hexdigest()[:16]}"
        types = [("text" if sql.db_types[c] == "jsonb" else sql.db_types[c]) for c in cols]
        columns = ", ".join(f"c{i} {t}" for i, t in enumerate(types))
        self.execute(f"CREATE TEMPORARY TABLE IF NOT EXISTS {stage} ({columns}) ON COMMIT DROP")
        self.execute(f"TRUNCATE {stage}")
        with self.connection.wrap_database_errors, self.cursor.copy(f"COPY {stage} FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        select = ", ".join(f"c{i}::jsonb" if sql.db_types[c] == "jsonb" else f"c{i}" for i, c in enumerate(cols))
        return f"SELECT {select} FROM {stage}"

    def key_filter(self, cols: Sequence[str], types: Sequence[str], keys: list[tuple]) -> Iterable[tuple[str, list]]:
        """A condition that matches rows whose ``cols`` equal one of ``keys``."""
        if not keys:
            return
        if self.is_postgres:
            if len(cols) == 1:
                yield f"{_qn(cols[0])} = ANY(%s::{_array_type(types[0])})", [[k[0] for k in keys]]
                return
            casts = ", ".join(f"%s::{_array_type(t)}" for t in types)
            target = ", ".join(_qn(c) for c in cols)
            yield f"({target}) IN (SELECT * FROM unnest({casts}))", [list(col) for col in zip(*keys, strict=True)]
            return
        for chunk in _chunks(keys, len(cols)):
            if len(cols) == 1:
                yield f"{_qn(cols[0])} IN ({', '.join(['%s'] * len(chunk))})", [k[0] for k in chunk]
            else:
                row = "(" + ", ".join(["%s"] * len(cols)) + ")"
                target = ", ".join(_qn(c) for c in cols)
                yield f"({target}) IN (VALUES {', '.join([row] * len(chunk))})", [v for k in chunk for v in k]


def _array_type(db_type: str) -> str:
    # JSON travels as text and is cast per element in the SELECT list.
    return "text[]" if db_type == "jsonb" else f"{db_type}[]"


def _chunks(rows: list, columns_per_row: int) -> Iterable[list]:
    size = max(1, SQLITE_MAX_PARAMS // max(1, columns_per_row))
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def _row(sql: TableSql, values: dict[str, Any], cols: Sequence[str]) -> tuple:
    adapters = sql.adapters
    out = []
    for col in cols:
        value = values[col]
        adapt = adapters.get(col)
        out.append(adapt(value) if adapt is not None and value is not None else value)
    return tuple(out)


def _guard(sql: TableSql) -> str:
    """True when the incoming row (EXCLUDED) supersedes the stored one."""
    t = sql.table
    collate = ' COLLATE "C"' if sql.is_postgres else ""
    return (
        f"({t}.source_version IS NULL"
        f" OR {t}.source_version < EXCLUDED.source_version"
        f" OR ({t}.source_version = EXCLUDED.source_version AND ("
        f"{t}.source_occurred_at < EXCLUDED.source_occurred_at"
        f" OR ({t}.source_occurred_at = EXCLUDED.source_occurred_at"
        f" AND {t}.source_event_id{collate} < EXCLUDED.source_event_id{collate}))))"
    )


def fetch_state(db: _Db, sql: TableSql, keys: list[tuple]) -> dict[tuple, StoredState]:
    state: dict[tuple, StoredState] = {}
    ref_cols = [r.attname for r in sql.refs if r.attname not in sql.key_cols]
    cols = [*sql.key_cols, "source_version", "source_occurred_at", "source_event_id", "is_placeholder", *ref_cols]
    nkey = len(sql.key_cols)
    key_types = [sql.db_types[c] for c in sql.key_cols]
    for where, params in db.key_filter(sql.key_cols, key_types, keys):
        db.execute(f"SELECT {', '.join(_qn(c) for c in cols)} FROM {sql.table} WHERE {where}", params)
        for row in db.fetchall():
            key = tuple(row[:nkey])
            refs = dict(zip(ref_cols, row[nkey + 4 :], strict=True))
            for r in sql.refs:
                if r.attname in sql.key_cols:
                    refs[r.attname] = key[sql.key_cols.index(r.attname)]
            state[key] = StoredState(stored_rank(row[nkey], row[nkey + 1], row[nkey + 2]), bool(row[nkey + 3]), refs)
    return state


def _write(db: _Db, sql: TableSql, events: list[RowEvent], import_id: int, *, delete: bool) -> set[tuple]:
    """Upsert full rows, or mark rows deleted keeping their data (a key never seen becomes a
    deleted row with only its key); returns the keys the version guard let through."""
    if not events:
        return set()
    meta_only = (*sql.key_cols, *META_COLUMNS)
    cols = meta_only if delete else (*sql.key_cols, *sql.data_cols, *META_COLUMNS)
    set_cols = META_COLUMNS if delete else (*sql.data_cols, *META_COLUMNS)
    rows = []
    for ev in events:
        values = dict(zip(sql.key_cols, ev.key, strict=True)) if delete else dict(ev.values)
        values.update(
            source_version=ev.version,
            source_event_id=ev.event_id,
            source_occurred_at=ev.occurred_at,
            is_deleted=delete,
            is_placeholder=False,
            last_import_id=import_id,
        )
        rows.append(_row(sql, values, cols))
    updates = ", ".join(f"{_qn(c)} = EXCLUDED.{_qn(c)}" for c in set_cols)
    conflict = ", ".join(_qn(c) for c in sql.key_cols)
    written = 0
    for source, params in db.rows_source(sql, cols, rows):
        db.execute(
            f"INSERT INTO {sql.table} ({', '.join(_qn(c) for c in cols)}) {source}"
            f" ON CONFLICT ({conflict}) DO UPDATE SET {updates} WHERE {_guard(sql)}",
            params,
        )
        written += db.rowcount
    if written == len(events):
        return {ev.key for ev in events}
    # Some rows were superseded by a concurrent writer since fetch_state: ask which rows hold
    # our events now (rare; RETURNING every key would cost every batch instead).
    ours = {ev.key: ev.event_id for ev in events}
    nkey = len(sql.key_cols)
    applied: set[tuple] = set()
    key_types = [sql.db_types[c] for c in sql.key_cols]
    for where, params in db.key_filter(sql.key_cols, key_types, list(ours)):
        db.execute(
            f"SELECT {', '.join(_qn(c) for c in sql.key_cols)}, source_event_id, is_deleted"
            f" FROM {sql.table} WHERE {where}",
            params,
        )
        for row in db.fetchall():
            key = tuple(row[:nkey])
            if ours.get(key) == row[nkey] and bool(row[nkey + 1]) == delete:
                applied.add(key)
    return applied


def _parent(db: _Db, parent: str) -> tuple[TableSql, str]:
    psql = table_sql(parent, db.connection)
    assert len(psql.key_cols) == 1, "references always name a single-key entity"
    return psql, psql.key_cols[0]


def ensure_placeholders(db: _Db, parent: str, keys: set[Any], import_id: int) -> int:
    """Create a placeholder for each referenced key that has no row; returns how many were created.

    On PostgreSQL the referenced rows are then held with ``FOR KEY SHARE`` until commit, so that
    no concurrent batch can remove a placeholder this batch now refers to.
    """
    if not keys:
        return 0
    psql, key_col = _parent(db, parent)
    cols = (key_col, "is_deleted", "is_placeholder", "last_import_id")
    key_type = [psql.db_types[key_col]]
    created = 0
    missing = sorted(keys)
    for _round in range(5):
        if db.is_postgres:
            # A few hundred keys: one array beats a staging table's round trips.
            sources = [
                (
                    f"SELECT k, false, true, %s::bigint FROM unnest(%s::{_array_type(key_type[0])}) AS k",
                    [import_id, missing],
                )
            ]
        else:
            sources = db.rows_source(psql, cols, [(k, False, True, import_id) for k in missing])
        for source, params in sources:
            db.execute(
                f"INSERT INTO {psql.table} ({', '.join(_qn(c) for c in cols)}) {source}"
                f" ON CONFLICT ({_qn(key_col)}) DO NOTHING RETURNING {_qn(key_col)}",
                params,
            )
            created += len(db.fetchall())
        if not db.is_postgres:
            return created
        held: set[Any] = set()
        for where, params in db.key_filter([key_col], key_type, [(k,) for k in sorted(keys)]):
            db.execute(
                f"SELECT {_qn(key_col)} FROM {psql.table} WHERE {where} ORDER BY {_qn(key_col)} FOR KEY SHARE", params
            )
            held.update(r[0] for r in db.fetchall())
        missing = sorted(keys - held)
        if not missing:
            return created
    raise RuntimeError(f"could not hold placeholders of {parent}: rows keep disappearing")


@cache
def _referrers(parent: str, vendor: str) -> tuple[tuple[str, str], ...]:
    """(table, column) of every column in any table that names a row of ``parent``."""
    out = []
    for stream in STREAMS.values():
        sql = _table_sql(stream.name, vendor)
        for ref in sql.refs:
            if ref.parent == parent:
                out.append((sql.table, _qn(ref.attname)))
    return tuple(out)


def lock_placeholders(db: _Db, parent: str, keys: set[Any]) -> None:
    """Lock placeholders that may become orphans before the batch changes the rows naming them."""
    if not keys or not db.is_postgres:
        return
    psql, key_col = _parent(db, parent)
    for where, params in db.key_filter([key_col], [psql.db_types[key_col]], [(k,) for k in sorted(keys)]):
        db.execute(
            f"SELECT {_qn(key_col)} FROM {psql.table} WHERE {where} AND is_placeholder"
            f" ORDER BY {_qn(key_col)} FOR UPDATE",
            params,
        )
        db.fetchall()


def remove_orphan_placeholders(db: _Db, parent: str, keys: set[Any]) -> int:
    """Delete the placeholders among ``keys`` that no row refers to any more.

    A placeholder stands for a reference of an applied upsert; when a newer version of the
    referring row names another key, the old placeholder would otherwise linger.
    """
    if not keys:
        return 0
    psql, key_col = _parent(db, parent)
    not_referenced = " AND ".join(
        f"NOT EXISTS (SELECT 1 FROM {child} WHERE {child}.{col} = {psql.table}.{_qn(key_col)})"
        for child, col in _referrers(parent, db.vendor)
    )
    removed = 0
    for where, params in db.key_filter([key_col], [psql.db_types[key_col]], [(k,) for k in sorted(keys)]):
        db.execute(f"DELETE FROM {psql.table} WHERE {where} AND is_placeholder AND {not_referenced}", params)
        removed += db.rowcount
    return removed


def recompute_quotes(db: _Db, order_numbers: set[Any]) -> None:
    """Set each order's quote from the latest live estimate naming it (ties: higher estimateNumber)."""
    if not order_numbers:
        return
    orders, order_key = _parent(db, "orders")
    estimates = table_sql("estimates", db.connection).table
    collate = ' COLLATE "C"' if db.is_postgres else ""
    pick = (
        f"FROM {estimates} e WHERE e.order_id = {orders.table}.{_qn(order_key)}"
        " AND NOT e.is_deleted AND NOT e.is_placeholder"
        f" ORDER BY e.source_occurred_at DESC, e.estimate_number{collate} DESC LIMIT 1"
    )
    keys = [(k,) for k in sorted(order_numbers)]
    for where, params in db.key_filter([order_key], [orders.db_types[order_key]], keys):
        db.execute(
            f"UPDATE {orders.table} SET quote_number = (SELECT e.quote_number {pick}),"
            f" quote_version = (SELECT e.quote_version {pick}) WHERE {where}",
            params,
        )


def apply_batch(
    events: list[RowEvent], spec: StreamSpec, import_id: int, connection: BaseDatabaseWrapper | None = None
) -> BatchCounts:
    """Apply a batch of one stream's events; must run inside a transaction."""
    connection = connection or default_connection
    sql = table_sql(spec.name, connection)
    counts = BatchCounts()

    # Within a batch only the highest-ranked event of a key can matter.
    winners: dict[tuple, RowEvent] = {}
    for ev in events:
        current = winners.get(ev.key)
        if current is None or ev.rank > current.rank:
            winners[ev.key] = ev
        if current is not None:
            counts.stale += 1
    if not winners:
        return counts

    db = _Db(connection)
    try:
        return _apply(db, sql, winners, import_id, counts)
    finally:
        db.close()


def _apply(db: _Db, sql: TableSql, winners: dict[tuple, RowEvent], import_id: int, counts: BatchCounts) -> BatchCounts:
    if sql.spec.name == "estimates" and db.is_postgres:
        db.execute("SELECT pg_advisory_xact_lock(%s)", [ESTIMATES_LOCK_ID])
    keys = sorted(winners)
    old = fetch_state(db, sql, keys)

    todo: list[RowEvent] = []
    for key in keys:
        ev = winners[key]
        stored = old.get(key)
        # A stored rank never decreases, so what is stale now stays stale.
        if stored is not None and stored.rank is not None and ev.rank <= stored.rank:
            counts.stale += 1
        else:
            todo.append(ev)
    if not todo:
        return counts
    upserts = [ev for ev in todo if not ev.is_delete]
    deletes = [ev for ev in todo if ev.is_delete]

    orphan_candidates: dict[str, set[Any]] = {}
    for ref in sql.refs:
        if ref.attname in sql.key_cols:
            continue  # a key column never changes for a key
        for ev in upserts:
            stored = old.get(ev.key)
            if stored is None:
                continue
            before = stored.refs.get(ref.attname)
            if before is not None and before != ev.values[ref.attname]:
                orphan_candidates.setdefault(ref.parent, set()).add(before)
    for parent, candidates in orphan_candidates.items():
        lock_placeholders(db, parent, candidates)

    for ref in sql.refs:
        needed = {ev.values[ref.attname] for ev in upserts if ev.values[ref.attname] is not None}
        counts.placeholders += ensure_placeholders(db, ref.parent, needed, import_id)

    applied = _write(db, sql, upserts, import_id, delete=False)
    applied_deletes = _write(db, sql, deletes, import_id, delete=True)

    for ev in upserts:
        if ev.key in applied:
            stored = old.get(ev.key)
            if stored is None or stored.is_placeholder:
                counts.created += 1
            else:
                counts.updated += 1
        else:
            counts.stale += 1
    for ev in deletes:
        if ev.key in applied_deletes:
            counts.deleted += 1
        else:
            counts.stale += 1

    for parent, candidates in orphan_candidates.items():
        remove_orphan_placeholders(db, parent, candidates)

    if sql.spec.name == "estimates":
        affected = {s.refs.get("order_id") for s in old.values()}
        affected.update(ev.values["order_id"] for ev in upserts if ev.key in applied)
        affected.discard(None)
        recompute_quotes(db, affected)
    return counts
