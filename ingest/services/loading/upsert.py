"""The guarded upsert: one batch of winning events merged into a table, and what it did.

``INSERT ... ON CONFLICT (natural key) DO UPDATE ... WHERE <version guard>`` from a staging
table: the guard (stored version lower, or equal with an earlier occurredAt, or equal with a
lower eventId as the last tie-break so that every order of arrival converges) is evaluated by
the database on the row it locks, so two workers writing the same keys at once cannot lose an
update. Nothing is read before writing: the statement itself reports what it did. On
PostgreSQL one statement also reads the rows it replaces (same snapshot), creates the
placeholders its rows refer to and holds them ``FOR KEY SHARE``; SQLite runs the same steps
one after the other.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from json.encoder import encode_basestring_ascii
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from ingest.services.importing.rows import RowEvent
from ingest.services.loading.dialect import (
    Db,
    Staged,
    collate_c,
    distinct_values,
    is_distinct_from,
    json_from_text,
)
from ingest.services.loading.keys import EMPTY, decode_keys, key_list
from ingest.services.loading.references import ParentWork, placeholder_sql
from ingest.services.loading.tables import EXTRAS_COLUMN, META_COLUMNS, TableSql, parent_table, qn

if TYPE_CHECKING:
    from django.db.backends.base.base import BaseDatabaseWrapper
    from django.db.models import Field

RANK_COLUMNS = ("source_version", "source_event_id", "source_occurred_at")


@dataclass
class MergeResult:
    """What one merge did. Keys are natural keys as JSON array text (``keys``); references are parent keys."""

    applied: int = 0
    created: int = 0  # applied upserts whose key had no row, or only a placeholder
    created_json: str = EMPTY
    updated_json: str = EMPTY
    applied_json: str = EMPTY  # deletes
    moved_from: dict[str, set[Any]] = field(default_factory=dict)  # reference column -> parents no longer named
    touched: dict[str, set[Any]] = field(default_factory=dict)  # watched column -> its values in applied rows
    placeholders: int = 0
    unheld: list[str] = field(default_factory=list)  # reference columns whose parents must be re-ensured
    stage: str = ""  # where the statement read the rows (a table, or the CTE of a small batch)

    @property
    def created_keys(self) -> list[tuple[Any, ...]]:
        return decode_keys([self.created_json])

    @property
    def updated_keys(self) -> list[tuple[Any, ...]]:
        return decode_keys([self.updated_json])

    @property
    def applied_keys(self) -> list[tuple[Any, ...]]:
        return decode_keys([self.applied_json])


def guard(table: str, collate: str) -> str:
    """True when the incoming row (EXCLUDED) supersedes the stored one."""
    t = table
    return (
        f"({t}.source_version IS NULL"
        f" OR {t}.source_version < EXCLUDED.source_version"
        f" OR ({t}.source_version = EXCLUDED.source_version AND ("
        f"{t}.source_occurred_at < EXCLUDED.source_occurred_at"
        f" OR ({t}.source_occurred_at = EXCLUDED.source_occurred_at"
        f" AND {t}.source_event_id{collate} < EXCLUDED.source_event_id{collate}))))"
    )


@dataclass(frozen=True)
class _Plan:
    """The SQL of one kind of merge (upserts or deletes) into one table, built once per vendor."""

    stage_columns: tuple[tuple[str, str], ...]
    old_columns: tuple[str, ...]
    old_select: str  # rows replaced, read from the staging table's keys ({stage} left to fill in)
    upsert: str  # the INSERT ... ON CONFLICT ... RETURNING ({stage} left to fill in)
    returned: tuple[str, ...]
    parents: tuple[ParentWork, ...]
    summary: tuple[str, ...]  # aggregate expressions over w LEFT JOIN old o
    summary_from: str
    moving: tuple[str, ...]  # moving reference columns, in summary order
    watched: tuple[str, ...]  # watched columns, in summary order


def _stage_type(sql: TableSql, col: str) -> str:
    # JSON travels as text (json.dumps is C; psycopg's array dumper is not) and is cast in the merge.
    return "text" if col in sql.list_cols or col == EXTRAS_COLUMN else sql.db_types[col]


_PLANS: dict[tuple[Any, ...], _Plan] = {}


def _plan(db: Db, sql: TableSql, delete: bool, collect: bool, watched: tuple[str, ...]) -> _Plan:
    cache_key = (sql.spec.name, db.vendor, delete, collect, watched)
    plan = _PLANS.get(cache_key)
    if plan is None:
        plan = _PLANS[cache_key] = _build_plan(db, sql, delete, collect, watched)
    return plan


def _build_plan(db: Db, sql: TableSql, delete: bool, collect: bool, watched: tuple[str, ...]) -> _Plan:
    pg = db.is_postgres
    t = sql.table
    keys = sql.key_cols
    data = () if delete else (*sql.staged_data_cols, EXTRAS_COLUMN)
    staged = staged_columns(sql, delete)
    stage_columns = tuple((c, _stage_type(sql, c)) for c in staged)
    json_cols = (*sql.list_cols, EXTRAS_COLUMN)
    select = ", ".join(json_from_text(pg, f"s.{qn(c)}") if c in json_cols else f"s.{qn(c)}" for c in staged)
    flags = f"{'true' if delete else 'false'}, false, CAST(%s AS bigint)"
    insert_cols = ", ".join(qn(c) for c in (*keys, *data, *META_COLUMNS))
    set_cols = META_COLUMNS if delete else (*data, *META_COLUMNS)
    updates = ", ".join(f"{qn(c)} = EXCLUDED.{qn(c)}" for c in set_cols)
    moving = () if delete else tuple(r.attname for r in sql.moving_refs)
    returned = tuple(dict.fromkeys((*keys, *moving, *watched)))
    upsert = (
        f"INSERT INTO {t} ({insert_cols}) SELECT {select}, {flags} FROM {{stage}} s WHERE true"
        f" ON CONFLICT ({', '.join(qn(c) for c in keys)}) DO UPDATE SET {updates} WHERE {guard(t, collate_c(pg))}"
        f" RETURNING {', '.join(qn(c) for c in returned)}"
    )
    old_columns = () if delete else (*keys, "is_placeholder", *moving)
    join = " AND ".join(f"o.{qn(c)} = s.{qn(c)}" for c in keys)
    old_select = (
        f"SELECT {', '.join(f'o.{qn(c)}' for c in old_columns)} FROM {{stage}} s JOIN {t} o ON {join}"
        if old_columns
        else ""
    )
    key_exprs = [f"w.{qn(c)}" for c in keys]
    summary = ["count(*)"]
    if delete:
        summary.append("0")
        if collect:
            summary.append(key_list(pg, key_exprs, "true"))
    else:
        fresh = f"o.{qn(keys[0])} IS NULL OR o.is_placeholder"
        summary.append(f"count(*) FILTER (WHERE {fresh})")
        if collect:
            summary += [key_list(pg, key_exprs, fresh), key_list(pg, key_exprs, f"NOT ({fresh})")]
    summary += [distinct_values(pg, f"o.{qn(c)}", f"w.{qn(c)} {is_distinct_from(pg)} o.{qn(c)}") for c in moving]
    summary += [distinct_values(pg, f"w.{qn(c)}", "true") for c in watched]
    parents: tuple[ParentWork, ...] = ()
    summary_from = "w"
    if not delete:
        parents = tuple(
            placeholder_sql(ref, *parent_table(ref.parent, db.connection), f"ph{i}", f"held{i}")
            for i, ref in enumerate(sql.refs)
        )
        summary_from = "w LEFT JOIN old o ON " + " AND ".join(f"o.{qn(c)} = w.{qn(c)}" for c in keys)
    return _Plan(
        stage_columns, old_columns, old_select, upsert, returned, parents, tuple(summary), summary_from, moving, watched
    )


def staged_columns(sql: TableSql, delete: bool) -> tuple[str, ...]:
    """The columns of a merge's staging rows, in their order (``row_builder`` builds the rows)."""
    data = () if delete else (*sql.staged_data_cols, EXTRAS_COLUMN)
    return (*sql.key_cols, *data, *RANK_COLUMNS)


def row_builder(sql: TableSql, db: Db, delete: bool) -> Callable[[RowEvent], tuple[Any, ...]]:
    """A function from an event to its staging row, in ``_plan``'s column order."""
    if delete:
        get_key = itemgetter(*range(len(sql.key_cols)))
        width = len(sql.key_cols)

        def row_of_delete(ev: RowEvent) -> tuple[Any, ...]:
            key = ev.key if width > 1 else (get_key(ev.key),)
            return (*key, ev.version, ev.event_id, ev.occurred_text or ev.occurred_at)

        return _sqlite_adapted(sql, db, delete, row_of_delete)
    lists = tuple(c for c in sql.staged_data_cols if c in sql.list_cols)
    get = itemgetter(*sql.key_cols, *sql.staged_data_cols[: len(sql.staged_data_cols) - len(lists)])
    quote = encode_basestring_ascii  # a list of strings as json.dumps writes it, a tenth of the time

    # Lists repeat (a few imprint colours, a few add-ons): each distinct one is written once a batch.
    written: dict[tuple[Any, ...], str] = {}

    def as_json(items: list[str]) -> str:
        key = tuple(items)
        text = written.get(key)
        if text is None:
            text = written[key] = "[" + ", ".join(map(quote, items)) + "]"
        return text

    # An upsert's values are never None (a delete's are); no cast in this per-row path. A parser
    # for PostgreSQL gives every event its occurredAt as text (``RowEvent``), others none.
    def row_of_upsert(ev: RowEvent) -> tuple[Any, ...]:
        return (*get(ev.values), ev.extras, ev.version, ev.event_id, ev.occurred_text or ev.occurred_at)  # type: ignore[arg-type]

    def row_of_upsert_with_lists(ev: RowEvent) -> tuple[Any, ...]:
        values: dict[str, Any] = ev.values  # type: ignore[assignment]
        lists_json = [None if (v := values[c]) is None else as_json(v) for c in lists]
        return (*get(values), *lists_json, ev.extras, ev.version, ev.event_id, ev.occurred_text or ev.occurred_at)

    if lists:
        return _sqlite_adapted(sql, db, delete, row_of_upsert_with_lists)

    return _sqlite_adapted(sql, db, delete, row_of_upsert)


def _sqlite_adapted(
    sql: TableSql, db: Db, delete: bool, build: Callable[[RowEvent], tuple[Any, ...]]
) -> Callable[[RowEvent], tuple[Any, ...]]:
    """SQLite stores dates, timestamps, decimals and JSON as Django writes them; PostgreSQL takes the
    Python values as they are."""
    if db.is_postgres:
        return build
    from website.models import MODELS_BY_STREAM

    model = MODELS_BY_STREAM[sql.spec.name]
    by_attname = {f.attname: f for f in model._meta.concrete_fields}
    cols = staged_columns(sql, delete)
    adapters: list[tuple[int, Callable[[Any], Any]]] = []
    for i, col in enumerate(cols):
        f = by_attname[col]
        if f.get_internal_type() in {"DateTimeField", "DateField", "DecimalField"}:
            adapters.append((i, _prep_save(f, db.connection)))

    def adapted(ev: RowEvent) -> tuple[Any, ...]:
        row = list(build(ev))
        for i, adapt in adapters:
            if row[i] is not None:
                row[i] = adapt(row[i])
        return tuple(row)

    return adapted


def merge(
    db: Db,
    sql: TableSql,
    events: Sequence[RowEvent],
    import_id: int | None,
    *,
    delete: bool,
    collect: bool = False,
    watched: tuple[str, ...] = (),
) -> MergeResult:
    """Merge the winning events of a batch (one per key) into the table; see the module's doc."""
    if not events:
        return MergeResult()
    plan = _plan(db, sql, delete, collect, watched)
    build = row_builder(sql, db, delete)
    stage = db.stage(stage_seed(sql, delete), plan.stage_columns, [build(ev) for ev in events])
    return _merge_staged(db, plan, stage, import_id, collect=collect, delete=delete)


def merge_text(
    db: Db,
    sql: TableSql,
    text: bytes,
    rows: int,
    import_id: int | None,
    *,
    delete: bool,
    collect: bool = False,
    watched: tuple[str, ...] = (),
) -> MergeResult:
    """``merge`` for winning events whose staging rows (``row_builder``) are already written as
    COPY text (PostgreSQL; ``ingest.services.loading.prepared``): ``rows`` of them."""
    if not rows:
        return MergeResult()
    plan = _plan(db, sql, delete, collect, watched)
    stage = db.stage_text(stage_seed(sql, delete), plan.stage_columns, text)
    return _merge_staged(db, plan, stage, import_id, collect=collect, delete=delete)


def stage_seed(sql: TableSql, delete: bool) -> str:
    return sql.table + ("|d" if delete else "|u")


def _merge_staged(
    db: Db, plan: _Plan, stage: Staged, import_id: int | None, *, collect: bool, delete: bool
) -> MergeResult:
    result = MergeResult(stage=stage.name)
    if db.is_postgres:
        row = _merge_postgres(db, plan, stage, import_id)
    else:
        row = _merge_sqlite(db, plan, stage, import_id, result)
    values = list(row)
    result.applied = values.pop(0) or 0
    result.created = values.pop(0) or 0
    if collect and delete:
        result.applied_json = values.pop(0) or EMPTY
    elif collect:
        result.created_json = values.pop(0) or EMPTY
        result.updated_json = values.pop(0) or EMPTY
    for col in plan.moving:
        moved = db.decode_json(values.pop(0))
        if moved:
            result.moved_from[col] = set(moved)
    for col in plan.watched:
        result.touched[col] = set(db.decode_json(values.pop(0)))
    for work in plan.parents if db.is_postgres else ():
        created, held, needed = values.pop(0), values.pop(0), values.pop(0)
        result.placeholders += created
        if created + held < needed:
            result.unheld.append(work.ref.attname)
    return result


def _merge_postgres(db: Db, plan: _Plan, staged: Staged, import_id: int | None) -> tuple[Any, ...]:
    ctes = [staged.cte] if staged.cte else []
    params: list[Any] = list(staged.params)
    stage = staged.name
    if plan.old_select:
        ctes.append(f"old AS MATERIALIZED ({plan.old_select.format(stage=stage)})")
    ctes.append(f"w AS ({plan.upsert.format(stage=stage)})")
    params.append(import_id)
    summary = list(plan.summary)
    for work in plan.parents:
        ctes += work.ctes
        params.append(import_id)
        summary += work.counts
    db.execute(f"WITH {', '.join(ctes)} SELECT {', '.join(summary)} FROM {plan.summary_from}", params)
    return db.fetchone()


def _merge_sqlite(db: Db, plan: _Plan, staged: Staged, import_id: int | None, result: MergeResult) -> tuple[Any, ...]:
    stage = staged.name
    if plan.old_select:
        db.temp_table("old", plan.old_columns)
        db.execute(f"INSERT INTO old {plan.old_select.format(stage=stage)}")
    db.execute(plan.upsert.format(stage=stage), [import_id])
    written = db.fetchall()
    db.temp_table("w", plan.returned)
    db.insert_rows("w", len(plan.returned), written)
    for work in plan.parents:
        db.execute(work.sqlite_insert, [import_id])
        result.placeholders += len(db.fetchall())
    db.execute(f"SELECT {', '.join(plan.summary)} FROM {plan.summary_from}")
    return db.fetchone()


def _prep_save(f: Field[Any, Any], connection: BaseDatabaseWrapper) -> Callable[[Any], Any]:
    def prep(value: Any) -> Any:
        return f.get_db_prep_save(value, connection)

    return prep
