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

META_COLUMNS = ("source_version", "source_event_id", "source_occurred_at", "is_deleted", "is_placeholder", "last_import_id")

# SQLite allows 32766 bound parameters per statement; PostgreSQL's protocol 65535.
MAX_PARAMS = {"sqlite": 32000, "postgresql": 60000}

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
    adapters: dict[str, Callable[[Any], Any]] = field(default_factory=dict)

    @property
    def is_postgres(self) -> bool:
        return self.vendor == "postgresql"


def _qn(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@cache
def table_sql(stream: str, vendor: str) -> TableSql:
    spec = STREAMS[stream]
    model = MODELS_BY_STREAM[stream]
    key_cols = tuple(f.attname for f in spec.key)
    data_cols = tuple(attname for _path, attname, _spec in spec.columns() if attname not in key_cols)
    refs = tuple(ParentRef(f.attname, f.references.stream) for f in spec.references)
    sql = TableSql(spec, vendor, _qn(model._meta.db_table), key_cols, data_cols, refs)
    return sql


def _adapters(sql: TableSql, connection: BaseDatabaseWrapper) -> dict[str, Callable[[Any], Any]]:
    """Per-column conversion to what the driver takes, chosen once instead of per value."""
    if sql.adapters:
        return sql.adapters
    model = MODELS_BY_STREAM[sql.spec.name]
    adapters: dict[str, Callable[[Any], Any]] = {}
    for attname in (*sql.key_cols, *sql.data_cols, *META_COLUMNS):
        model_field = next(f for f in model._meta.concrete_fields if f.attname == attname)
        internal = model_field.get_internal_type()
        if internal == "JSONField":
            adapters[attname] = lambda v, _ops=connection.ops: None if v is None else _ops.adapt_json_value(v, None)
        elif sql.is_postgres or internal not in {"DateTimeField", "DateField", "DecimalField"}:
            continue  # psycopg and sqlite3 take these Python values as they are
        else:
            adapters[attname] = lambda v, _f=model_field, _c=connection: _f.get_db_prep_save(v, _c)
    sql.adapters = adapters
    return adapters


def _row_params(sql: TableSql, adapters: dict, values: dict[str, Any], cols: Sequence[str]) -> list[Any]:
    out = []
    for col in cols:
        value = values[col]
        adapt = adapters.get(col)
        out.append(adapt(value) if adapt is not None and value is not None else value)
    return out


def _chunks(rows: list, columns_per_row: int, vendor: str) -> Iterable[list]:
    size = max(1, MAX_PARAMS.get(vendor, 30000) // max(1, columns_per_row))
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def _key_filter(sql: TableSql, keys: Sequence[tuple]) -> tuple[str, list[Any]]:
    if len(sql.key_cols) == 1:
        return f"{_qn(sql.key_cols[0])} IN ({', '.join(['%s'] * len(keys))})", [k[0] for k in keys]
    cols = ", ".join(_qn(c) for c in sql.key_cols)
    row = "(" + ", ".join(["%s"] * len(sql.key_cols)) + ")"
    params = [v for k in keys for v in k]
    return f"({cols}) IN (VALUES {', '.join([row] * len(keys))})", params


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


def fetch_state(cursor, sql: TableSql, keys: Sequence[tuple]) -> dict[tuple, StoredState]:
    state: dict[tuple, StoredState] = {}
    ref_cols = [r.attname for r in sql.refs if r.attname not in sql.key_cols]
    cols = [*sql.key_cols, "source_version", "source_occurred_at", "source_event_id", "is_placeholder", *ref_cols]
    nkey = len(sql.key_cols)
    for chunk in _chunks(list(keys), nkey, sql.vendor):
        where, params = _key_filter(sql, chunk)
        cursor.execute(f"SELECT {', '.join(_qn(c) for c in cols)} FROM {sql.table} WHERE {where}", params)
        for row in cursor.fetchall():
            key = tuple(row[:nkey])
            refs = dict(zip(ref_cols, row[nkey + 4 :], strict=True))
            for r in sql.refs:
                if r.attname in sql.key_cols:
                    refs[r.attname] = key[sql.key_cols.index(r.attname)]
            state[key] = StoredState(stored_rank(row[nkey], row[nkey + 1], row[nkey + 2]), bool(row[nkey + 3]), refs)
    return state


def _upsert(cursor, sql: TableSql, adapters: dict, events: list[RowEvent], import_id: int) -> set[tuple]:
    """Insert or supersede full rows; returns the keys the guard let through."""
    if not events:
        return set()
    cols = (*sql.key_cols, *sql.data_cols, *META_COLUMNS)
    set_cols = (*sql.data_cols, *META_COLUMNS)
    row_sql = "(" + ", ".join(["%s"] * len(cols)) + ")"
    updates = ", ".join(f"{_qn(c)} = EXCLUDED.{_qn(c)}" for c in set_cols)
    conflict = ", ".join(_qn(c) for c in sql.key_cols)
    returning = ", ".join(_qn(c) for c in sql.key_cols)
    applied: set[tuple] = set()
    for chunk in _chunks(events, len(cols), sql.vendor):
        params: list[Any] = []
        for ev in chunk:
            values = dict(ev.values)
            values.update(
                source_version=ev.version,
                source_event_id=ev.event_id,
                source_occurred_at=ev.occurred_at,
                is_deleted=False,
                is_placeholder=False,
                last_import_id=import_id,
            )
            params.extend(_row_params(sql, adapters, values, cols))
        cursor.execute(
            f"INSERT INTO {sql.table} ({', '.join(_qn(c) for c in cols)}) VALUES {', '.join([row_sql] * len(chunk))}"
            f" ON CONFLICT ({conflict}) DO UPDATE SET {updates} WHERE {_guard(sql)} RETURNING {returning}",
            params,
        )
        applied.update(tuple(r) for r in cursor.fetchall())
    return applied


def _mark_deleted(cursor, sql: TableSql, adapters: dict, events: list[RowEvent], import_id: int) -> set[tuple]:
    """Mark rows deleted, keeping their data; a key never seen becomes a deleted row with only its key."""
    if not events:
        return set()
    cols = (*sql.key_cols, *META_COLUMNS)
    set_cols = META_COLUMNS
    row_sql = "(" + ", ".join(["%s"] * len(cols)) + ")"
    updates = ", ".join(f"{_qn(c)} = EXCLUDED.{_qn(c)}" for c in set_cols)
    conflict = ", ".join(_qn(c) for c in sql.key_cols)
    applied: set[tuple] = set()
    for chunk in _chunks(events, len(cols), sql.vendor):
        params: list[Any] = []
        for ev in chunk:
            values = dict(zip(sql.key_cols, ev.key, strict=True))
            values.update(
                source_version=ev.version,
                source_event_id=ev.event_id,
                source_occurred_at=ev.occurred_at,
                is_deleted=True,
                is_placeholder=False,
                last_import_id=import_id,
            )
            params.extend(_row_params(sql, adapters, values, cols))
        cursor.execute(
            f"INSERT INTO {sql.table} ({', '.join(_qn(c) for c in cols)}) VALUES {', '.join([row_sql] * len(chunk))}"
            f" ON CONFLICT ({conflict}) DO UPDATE SET {updates} WHERE {_guard(sql)} RETURNING {conflict}",
            params,
        )
        applied.update(tuple(r) for r in cursor.fetchall())
    return applied


def _parent_sql(parent: str, vendor: str) -> tuple[str, str]:
    psql = table_sql(parent, vendor)
    assert len(psql.key_cols) == 1, "references always name a single-key entity"
    return psql.table, _qn(psql.key_cols[0])


def ensure_placeholders(cursor, parent: str, keys: set[Any], vendor: str, import_id: int) -> int:
    """Create a placeholder for each referenced key that has no row; returns how many were created.

    On PostgreSQL the referenced rows are then held with ``FOR KEY SHARE`` until commit, so that
    no concurrent batch can remove a placeholder this batch now refers to.
    """
    if not keys:
        return 0
    table, key_col = _parent_sql(parent, vendor)
    created = 0
    missing = sorted(keys)
    for _round in range(5):
        for chunk in _chunks(missing, 4, vendor):
            cursor.execute(
                f"INSERT INTO {table} ({key_col}, is_deleted, is_placeholder, last_import_id)"
                f" VALUES {', '.join(['(%s, %s, %s, %s)'] * len(chunk))}"
                f" ON CONFLICT ({key_col}) DO NOTHING RETURNING {key_col}",
                [v for k in chunk for v in (k, False, True, import_id)],
            )
            created += len(cursor.fetchall())
        if vendor != "postgresql":
            return created
        held: set[Any] = set()
        for chunk in _chunks(sorted(keys), 1, vendor):
            cursor.execute(
                f"SELECT {key_col} FROM {table} WHERE {key_col} IN ({', '.join(['%s'] * len(chunk))})"
                f" ORDER BY {key_col} FOR KEY SHARE",
                chunk,
            )
            held.update(r[0] for r in cursor.fetchall())
        missing = sorted(keys - held)
        if not missing:
            return created
    raise RuntimeError(f"could not hold placeholders of {parent}: rows keep disappearing")


@cache
def _referrers(parent: str, vendor: str) -> tuple[tuple[str, str], ...]:
    """(table, column) of every column in any table that names a row of ``parent``."""
    out = []
    for stream in STREAMS.values():
        sql = table_sql(stream.name, vendor)
        for ref in sql.refs:
            if ref.parent == parent:
                out.append((sql.table, _qn(ref.attname)))
    return tuple(out)


def lock_placeholders(cursor, parent: str, keys: set[Any], vendor: str) -> None:
    """Lock placeholders that may become orphans before the batch changes the rows naming them."""
    if not keys or vendor != "postgresql":
        return
    table, key_col = _parent_sql(parent, vendor)
    for chunk in _chunks(sorted(keys), 1, vendor):
        cursor.execute(
            f"SELECT {key_col} FROM {table} WHERE {key_col} IN ({', '.join(['%s'] * len(chunk))})"
            f" AND is_placeholder ORDER BY {key_col} FOR UPDATE",
            chunk,
        )
        cursor.fetchall()


def remove_orphan_placeholders(cursor, parent: str, keys: set[Any], vendor: str) -> int:
    """Delete the placeholders among ``keys`` that no row refers to any more.

    A placeholder stands for a reference of an applied upsert; when a newer version of the
    referring row names another key, the old placeholder would otherwise linger.
    """
    if not keys:
        return 0
    table, key_col = _parent_sql(parent, vendor)
    not_referenced = " AND ".join(
        f"NOT EXISTS (SELECT 1 FROM {child} WHERE {child}.{col} = {table}.{key_col})"
        for child, col in _referrers(parent, vendor)
    )
    removed = 0
    for chunk in _chunks(sorted(keys), 1, vendor):
        cursor.execute(
            f"DELETE FROM {table} WHERE {key_col} IN ({', '.join(['%s'] * len(chunk))})"
            f" AND is_placeholder AND {not_referenced}",
            chunk,
        )
        removed += cursor.rowcount or 0
    return removed


def recompute_quotes(cursor, order_numbers: set[Any], vendor: str) -> None:
    """Set each order's quote from the latest live estimate naming it (ties: higher estimateNumber)."""
    if not order_numbers:
        return
    orders, order_key = _parent_sql("orders", vendor)
    estimates = table_sql("estimates", vendor).table
    collate = ' COLLATE "C"' if vendor == "postgresql" else ""
    pick = (
        f"FROM {estimates} e WHERE e.order_id = {orders}.{order_key} AND NOT e.is_deleted AND NOT e.is_placeholder"
        f" ORDER BY e.source_occurred_at DESC, e.estimate_number{collate} DESC LIMIT 1"
    )
    for chunk in _chunks(sorted(order_numbers), 1, vendor):
        cursor.execute(
            f"UPDATE {orders} SET quote_number = (SELECT e.quote_number {pick}),"
            f" quote_version = (SELECT e.quote_version {pick})"
            f" WHERE {order_key} IN ({', '.join(['%s'] * len(chunk))})",
            chunk,
        )


def apply_batch(
    events: list[RowEvent], spec: StreamSpec, import_id: int, connection: BaseDatabaseWrapper | None = None
) -> BatchCounts:
    """Apply a batch of one stream's events; must run inside a transaction."""
    connection = connection or default_connection
    vendor = connection.vendor
    sql = table_sql(spec.name, vendor)
    adapters = _adapters(sql, connection)
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

    with connection.cursor() as cursor:
        if spec.name == "estimates" and vendor == "postgresql":
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [ESTIMATES_LOCK_ID])
        keys = sorted(winners)
        old = fetch_state(cursor, sql, keys)

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
            lock_placeholders(cursor, parent, candidates, vendor)

        for ref in sql.refs:
            needed = {ev.values[ref.attname] for ev in upserts if ev.values[ref.attname] is not None}
            counts.placeholders += ensure_placeholders(cursor, ref.parent, needed, vendor, import_id)

        applied = _upsert(cursor, sql, adapters, upserts, import_id)
        applied_deletes = _mark_deleted(cursor, sql, adapters, deletes, import_id)

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
            remove_orphan_placeholders(cursor, parent, candidates, vendor)

        if spec.name == "estimates":
            affected = {s.refs.get("order_id") for s in old.values()}
            affected.update(ev.values["order_id"] for ev in upserts if ev.key in applied)
            affected.discard(None)
            recompute_quotes(cursor, affected, vendor)
    return counts
