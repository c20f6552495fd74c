"""What the loader knows of each stream's table: its name, key, data and reference columns, types."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

from django.db.backends.base.base import BaseDatabaseWrapper

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
# The event's unknown data members (JSON): staged as text like the string lists, written by an
# applied upsert (NULL when it carried none), left as it was by a delete. ``ingest.services.importing.extras``.
EXTRAS_COLUMN = "source_extras"


def qn(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class ParentRef:
    """A column of this table that names a row of another (single-key) table."""

    attname: str
    parent: str  # stream name


@dataclass
class TableSql:
    """One stream's table for one database vendor, built once."""

    spec: StreamSpec
    vendor: str
    table: str
    key_cols: tuple[str, ...]
    data_cols: tuple[str, ...]
    refs: tuple[ParentRef, ...]
    list_cols: frozenset[str]  # string lists, stored as JSON
    db_types: dict[str, str] = field(default_factory=dict)

    @property
    def is_postgres(self) -> bool:
        return self.vendor == "postgresql"

    @property
    def staged_data_cols(self) -> tuple[str, ...]:
        """The data columns in the order a batch is staged: string lists (sent as JSON text) last."""
        return tuple(c for c in self.data_cols if c not in self.list_cols) + tuple(
            c for c in self.data_cols if c in self.list_cols
        )

    @property
    def moving_refs(self) -> tuple[ParentRef, ...]:
        """References outside the key: a newer version of a row may point them elsewhere."""
        return tuple(r for r in self.refs if r.attname not in self.key_cols)


@cache
def _table_sql(stream: str, vendor: str) -> TableSql:
    spec = STREAMS[stream]
    model = MODELS_BY_STREAM[stream]
    key_cols = tuple(f.attname for f in spec.key)
    columns = spec.columns()
    data_cols = tuple(attname for _path, attname, _spec in columns if attname not in key_cols)
    refs = tuple(ParentRef(f.attname, f.references.stream) for f in spec.references if f.references is not None)
    lists = frozenset(attname for _path, attname, s in columns if s.type == "string_list")
    return TableSql(spec, vendor, qn(model._meta.db_table), key_cols, data_cols, refs, lists)


def table_sql(stream: str, connection: BaseDatabaseWrapper) -> TableSql:
    """The table, with per-column database types for this connection."""
    sql = _table_sql(stream, connection.vendor)
    if not sql.db_types:
        model = MODELS_BY_STREAM[stream]
        by_attname = {f.attname: f for f in model._meta.concrete_fields}
        for attname in (*sql.key_cols, *sql.data_cols, *META_COLUMNS, EXTRAS_COLUMN):
            db_type = by_attname[attname].db_type(connection)
            assert db_type is not None, f"{attname} has no column type"  # every concrete field has one
            sql.db_types[attname] = db_type
    return sql


def parent_table(parent: str, connection: BaseDatabaseWrapper) -> tuple[TableSql, str]:
    psql = table_sql(parent, connection)
    assert len(psql.key_cols) == 1, "references always name a single-key entity"
    return psql, psql.key_cols[0]


@cache
def referrers(parent: str, vendor: str) -> tuple[tuple[str, str], ...]:
    """(table, quoted column) of every column in any table that names a row of ``parent``."""
    out = []
    for stream in STREAMS.values():
        sql = _table_sql(stream.name, vendor)
        for ref in sql.refs:
            if ref.parent == parent:
                out.append((sql.table, qn(ref.attname)))
    return tuple(out)
