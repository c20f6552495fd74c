"""What differs between PostgreSQL and SQLite in the loader's SQL, in one place.

PostgreSQL: a psycopg cursor with server-side binding, rows sent with ``COPY`` into a temporary
staging table, and every step of a batch's merge in one statement (data-modifying CTEs).
SQLite: Django's cursor, rows inserted into a temporary table, the same steps as separate
statements (SQLite has no data-modifying CTEs, and one writer at a time needs no row locks).
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper

from ingest.services.loading.tables import qn

# SQLite allows 32766 bound parameters per statement.
SQLITE_MAX_PARAMS = 32000


# Up to this many rows a batch travels inside the merge statement (PostgreSQL); more go by COPY.
SMALL_BATCH = 1000


@dataclass(frozen=True)
class Staged:
    """Where a statement reads a batch's rows: a table, or a CTE of its own with its parameters."""

    name: str
    cte: str = ""
    params: list[Any] = field(default_factory=list)


class Db:
    """Executes the loader's statements on one connection."""

    def __init__(self, connection: BaseDatabaseWrapper) -> None:
        self.connection = connection
        self.vendor = connection.vendor
        self.is_postgres = self.vendor == "postgresql"
        self.cursor: Any  # psycopg's own cursor on PostgreSQL (no Django wrapper), Django's SQLite one elsewhere
        if self.is_postgres:
            import psycopg

            connection.ensure_connection()
            self.cursor = psycopg.Cursor(connection.connection)
        else:
            # Django's SQLite cursor without its DEBUG wrapper, which would keep every statement
            # with its values interpolated (a batch of wide lines is megabytes) in connection.queries.
            connection.ensure_connection()
            self.cursor = connection.create_cursor()

    def execute(self, query: str, params: Sequence[Any] = ()) -> None:
        # Django's exception classes for the raw cursor too, so callers tell deadlocks and
        # lost connections apart the same way on both paths.
        with self.connection.wrap_database_errors:
            self.cursor.execute(query, params)

    def fetchall(self) -> list[tuple[Any, ...]]:
        rows: list[tuple[Any, ...]] = self.cursor.fetchall()
        return rows

    def fetchone(self) -> tuple[Any, ...]:
        row: tuple[Any, ...] = self.cursor.fetchone()
        return row

    @property
    def rowcount(self) -> int:
        return self.cursor.rowcount or 0

    def close(self) -> None:
        self.cursor.close()

    # --- staging ----------------------------------------------------------------------------------------

    def stage(self, name_seed: str, columns: Sequence[tuple[str, str]], rows: list[tuple[Any, ...]]) -> Staged:
        """Make ``rows`` (of ``columns``: name, type) readable by a statement as a table.

        PostgreSQL: a big batch goes by COPY (psycopg formats the rows in C) into a temporary
        table that lives until the end of the transaction and is emptied before each batch; a
        small one travels inside the statement itself (a CTE), which spares a small file the
        temporary table's creation and two round trips: as one JSON array of rows (``json.dumps``
        is C; psycopg's array dumper, one array per column, cost a small file a tenth of its
        time), each value cast to its column's type. Values JSON does not know (a Decimal, a
        date) go as their text, which the cast reads back. SQLite: a temporary table.
        """
        stage = _stage_name(name_seed, columns)
        if self.is_postgres and len(rows) <= SMALL_BATCH:
            values = ", ".join(f"CAST(r->>{i} AS {t}) AS {qn(c)}" for i, (c, t) in enumerate(columns))
            cte = f"s0 AS MATERIALIZED (SELECT {values} FROM jsonb_array_elements(CAST(%s AS jsonb)) AS r)"
            return Staged("s0", cte, [json.dumps(rows, default=str)])
        if self.is_postgres:
            with self._copy_into(stage, columns) as copy:
                write = copy.write_row
                for row in rows:
                    write(row)
            return Staged(stage)
        self.temp_table(stage, [c for c, _t in columns])
        self.insert_rows(stage, len(columns), rows)
        return Staged(stage)

    def stage_text(self, name_seed: str, columns: Sequence[tuple[str, str]], text: bytes) -> Staged:
        """(PostgreSQL) ``stage`` for rows already written in COPY's text format, as psycopg writes
        them (``ingest.services.loading.prepared``: a parse process made them)."""
        stage = _stage_name(name_seed, columns)
        with self._copy_into(stage, columns) as copy:
            copy.write(text)
        return Staged(stage)

    @contextmanager
    def _copy_into(self, stage: str, columns: Sequence[tuple[str, str]]) -> Iterator[Any]:
        """(PostgreSQL) an empty temporary table that lives until the end of the transaction, and
        psycopg's COPY into it."""
        definition = ", ".join(f"{qn(c)} {t}" for c, t in columns)
        self.execute(f"CREATE TEMPORARY TABLE IF NOT EXISTS {stage} ({definition}) ON COMMIT DROP")
        self.execute(f"TRUNCATE {stage}")
        names = ", ".join(qn(c) for c, _t in columns)
        with self.connection.wrap_database_errors, self.cursor.copy(f"COPY {stage} ({names}) FROM STDIN") as copy:
            yield copy

    def temp_table(self, name: str, columns: Sequence[str]) -> None:
        """(SQLite) an empty temporary table of untyped columns."""
        self.execute(f"DROP TABLE IF EXISTS temp.{name}")
        self.execute(f"CREATE TEMP TABLE {name} ({', '.join(qn(c) for c in columns)})")

    def insert_rows(self, table: str, width: int, rows: list[tuple[Any, ...]]) -> None:
        row_sql = "(" + ", ".join(["%s"] * width) + ")"
        size = max(1, SQLITE_MAX_PARAMS // max(1, width))
        for start in range(0, len(rows), size):
            chunk = rows[start : start + size]
            self.execute(
                f"INSERT INTO {table} VALUES {', '.join([row_sql] * len(chunk))}", [v for row in chunk for v in row]
            )

    def key_filter(self, col: str, db_type: str, keys: list[Any]) -> Iterable[tuple[str, list[Any]]]:
        """Conditions that match rows whose single-column key ``col`` is one of ``keys``."""
        if not keys:
            return
        if self.is_postgres:
            yield f"{qn(col)} = ANY(%s::{db_type}[])", [keys]
            return
        size = SQLITE_MAX_PARAMS
        for start in range(0, len(keys), size):
            chunk = keys[start : start + size]
            yield f"{qn(col)} IN ({', '.join(['%s'] * len(chunk))})", chunk

    def decode_json(self, value: Any) -> Any:
        """psycopg decodes JSON itself; SQLite hands back the text (NULL when no row matched)."""
        if value is None:
            return []
        return json.loads(value) if isinstance(value, str) else value


class CopyTextWriter:
    """(PostgreSQL) rows in COPY's text format exactly as ``Db.stage``'s COPY on ``connection``
    sends them (the connection's adapters and encoding), written to memory: for rows staged away
    from the thread or process that talks to the server (a big file's parse process, a
    reconciliation's read-ahead thread). Its cursor never executes anything: psycopg's ``Copy``
    refuses a cursor that holds another statement's result."""

    def __init__(self, connection: BaseDatabaseWrapper) -> None:
        import psycopg

        connection.ensure_connection()
        self._cursor = psycopg.Cursor(connection.connection)

    def write(self, rows: Iterable[Sequence[Any]]) -> bytes:
        from psycopg.copy import Copy, FileWriter

        out = io.BytesIO()
        with Copy(self._cursor, writer=FileWriter(out)) as copy:
            write = copy.write_row
            for row in rows:
                write(row)
        return out.getvalue()


# --- SQL fragments, by vendor ---------------------------------------------------------------------------


def _stage_name(name_seed: str, columns: Sequence[tuple[str, str]]) -> str:
    digest = hashlib.sha1(f"{name_seed}|{columns}".encode(), usedforsecurity=False).hexdigest()[:16]
    return f"ingest_stage_{digest}"


def collate_c(is_postgres: bool) -> str:
    """Byte order for text comparisons that must agree everywhere (event ids, estimate numbers)."""
    return ' COLLATE "C"' if is_postgres else ""


def is_distinct_from(is_postgres: bool) -> str:
    return "IS DISTINCT FROM" if is_postgres else "IS NOT"


def json_from_text(is_postgres: bool, expr: str) -> str:
    """A staged JSON text as the column's JSON: ``jsonb`` on PostgreSQL; SQLite stores the text."""
    return f"CAST({expr} AS jsonb)" if is_postgres else expr


def distinct_values(is_postgres: bool, expr: str, condition: str) -> str:
    """An aggregate: the distinct non-null values of ``expr`` where ``condition`` holds, as JSON."""
    if is_postgres:
        return f"COALESCE(json_agg(DISTINCT {expr}) FILTER (WHERE {expr} IS NOT NULL AND {condition}), '[]')"
    return f"json_group_array(DISTINCT {expr}) FILTER (WHERE {expr} IS NOT NULL AND {condition})"
