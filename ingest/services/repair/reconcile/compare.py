"""The comparison in SQL: a snapshot's rows staged chunk by chunk and joined on the natural key.

Two temporary tables live on the run's connection: ``chunk`` holds the rows of one chunk (typed as
the website table's columns, built by the loader's own ``row_builder``, so that "a data field
differs as the tables hold it" compares stored values), and ``seen`` the keys of every chunk so
far (unique: a second line of a key is a line error). Each chunk is compared at once against the
website's table and only its drift is written (``ReconciliationDrift``), so neither the snapshot
nor the table is ever in Python's memory. Nothing locks the website's tables: the joins read them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper

from ingest.models.reconciliation import ReconciliationDrift
from ingest.services.importing.rows import RowEvent
from ingest.services.loading.dialect import CopyTextWriter, Db, is_distinct_from
from ingest.services.loading.tables import EXTRAS_COLUMN, TableSql, qn, table_sql
from ingest.services.loading.upsert import RANK_COLUMNS, row_builder, staged_columns
from ingest.services.repair.reconcile.snapshot import Header, SnapshotRow

CHUNK = "ingest_reconcile_chunk"
SEEN = "ingest_reconcile_seen"
SEEN_FIRST_ANALYZE = 10_000
# Beside the table's own columns (prefixed: order lines have a column named line_number).


def _drift_columns() -> tuple[str, str]:
    table = qn(ReconciliationDrift._meta.db_table)
    names = (
        "run_id, category, key_json, line_number, website_version, website_occurred_at, website_deleted,"
        " snapshot_version, snapshot_occurred_at, snapshot_deleted, snapshot_line, resolution"
    )
    return table, names


class Comparison:
    """The staging tables of one run, and the SQL that compares a chunk."""

    def __init__(self, header: Header, connection: BaseDatabaseWrapper) -> None:
        self.header = header
        self.db = Db(connection)
        self.pg = self.db.is_postgres
        self.sql: TableSql = table_sql(header.stream, connection)
        self.data_cols = self.sql.staged_data_cols if header.full else ()
        self.key_cols = self.sql.key_cols
        self.upsert_row = row_builder(self.sql, self.db, delete=False)
        self._extras_at = staged_columns(self.sql, delete=False).index(EXTRAS_COLUMN)
        self.delete_row = row_builder(self.sql, self.db, delete=True)
        types = self.sql.db_types
        self.columns: list[tuple[str, str]] = [(c, types[c]) for c in (*self.key_cols, *self.data_cols, *RANK_COLUMNS)]
        self.columns += [("rc_deleted", types["is_deleted"]), ("rc_line_number", "bigint")]
        self.columns += [("rc_line", "text")]
        self._seen_rows = 0
        self._text = CopyTextWriter(connection) if self.pg else None  # ``staged_text``, in another thread
        self._seen_analyzed = 0
        self._create()

    # --- tables -----------------------------------------------------------------------------------------

    def _create(self) -> None:
        temp = "TEMPORARY" if self.pg else "TEMP"
        self.drop()
        cols = ", ".join(f"{qn(c)} {t}" for c, t in self.columns)
        self.db.execute(f"CREATE {temp} TABLE {CHUNK} ({cols})")
        keys = ", ".join(f"{qn(c)} {t}" for c, t in self.columns if c in self.key_cols)
        self.db.execute(f"CREATE {temp} TABLE {SEEN} ({keys}, rc_line_number bigint)")
        self.db.execute(f"CREATE UNIQUE INDEX {SEEN}_key ON {SEEN} ({', '.join(qn(c) for c in self.key_cols)})")

    def drop(self) -> None:
        prefix = "" if self.pg else "temp."
        for table in (CHUNK, SEEN):
            self.db.execute(f"DROP TABLE IF EXISTS {prefix}{table}")

    def close(self) -> None:
        self.db.close()

    # --- one chunk --------------------------------------------------------------------------------------

    def _row(self, row: SnapshotRow) -> tuple[Any, ...]:
        event = row.event
        if event is not None and not event.is_delete:
            values = self.upsert_row(event)
            # The loader stages the row's unknown fields (source_extras) too: they are not content
            # the contract compares, so they are not staged here.
            cut = self._extras_at
            values = (*values[:cut], *values[cut + 1 :])
        else:
            if event is None:  # a versions line: its key and rank as a delete would stage them
                event = RowEvent(
                    row.line_number, row.key, True, row.version, row.occurred_at, "", None, row.occurred_text
                )
            staged = self.delete_row(event)
            width = len(self.key_cols)
            values = (*staged[:width], *([None] * len(self.data_cols)), *staged[width:])
        return (*values, row.deleted, row.line_number, row.line if self.header.full else None)

    def staged_text(self, rows: Sequence[SnapshotRow]) -> bytes:
        """(PostgreSQL) the chunk's staging rows in COPY's text format, as psycopg's COPY of this
        connection writes them: made in the thread that reads the snapshot, a chunk ahead."""
        if self._text is None:
            raise ValueError("rows are staged as COPY text for PostgreSQL only")
        return self._text.write(self._row(row) for row in rows)

    def _load(self, rows: Sequence[SnapshotRow], text: bytes | None) -> None:
        # TRUNCATE, not DELETE, on PostgreSQL: autovacuum never visits a temporary table, so each
        # chunk's deleted rows stayed, and every scan of the chunk read all the chunks before it.
        self.db.execute(f"TRUNCATE {CHUNK}" if self.pg else f"DELETE FROM {CHUNK}")
        if self.pg:
            names = ", ".join(qn(c) for c, _t in self.columns)
            with (
                self.db.connection.wrap_database_errors,
                self.db.cursor.copy(f"COPY {CHUNK} ({names}) FROM STDIN") as cp,
            ):
                cp.write(text if text is not None else self.staged_text(rows))
            self.db.execute(f"ANALYZE {CHUNK}")  # a plan for this chunk's size, not a guess
        else:
            self.db.insert_rows(CHUNK, len(self.columns), [self._row(r) for r in rows])

    def _join(self, left: str, right: str) -> str:
        return " AND ".join(f"{left}.{qn(c)} = {right}.{qn(c)}" for c in self.key_cols)

    def duplicates(self, rows: int) -> list[tuple[int, str]]:
        """Keep the first line of each key (this chunk's ``rows`` and all before); the later ones'
        numbers and keys."""
        keys = ", ".join(qn(c) for c in self.key_cols)
        insert = (
            f"INSERT INTO {SEEN} ({keys}, rc_line_number) SELECT {keys}, rc_line_number FROM {CHUNK} WHERE true"
            f" ORDER BY rc_line_number ON CONFLICT ({keys}) DO NOTHING"
        )
        if self.pg:
            # One statement: the lines it could not insert are the second lines of their keys
            # (rare), so the comparison need not look them up in the keys seen again.
            self.db.execute(
                f"WITH first AS ({insert} RETURNING rc_line_number) SELECT c.rc_line_number, {self._key_json('c')}"
                f" FROM {CHUNK} c WHERE NOT EXISTS (SELECT 1 FROM first f WHERE f.rc_line_number = c.rc_line_number)"
                " ORDER BY c.rc_line_number"
            )
            dupes = [(int(n), k) for n, k in self.db.fetchall()]
            self._note_seen(rows - len(dupes))
            return dupes
        self.db.execute(insert)
        self._note_seen(max(0, self.db.rowcount))
        self.db.execute(
            f"SELECT c.rc_line_number, {self._key_json('c')} FROM {CHUNK} c JOIN {SEEN} s ON {self._join('c', 's')}"
            " WHERE s.rc_line_number <> c.rc_line_number ORDER BY c.rc_line_number"
        )
        return [(int(n), k) for n, k in self.db.fetchall()]

    def _note_seen(self, added: int) -> None:
        self._seen_rows += added
        if self.pg and self._seen_rows >= 2 * max(self._seen_analyzed, SEEN_FIRST_ANALYZE):
            # A temporary table is never analysed by autovacuum: without statistics the planner
            # takes the keys seen (a million at the end of a big snapshot) for a few rows when it
            # records the next chunk's keys and looks for the rows only on the website. Again each
            # time it has doubled.
            self.db.execute(f"ANALYZE {SEEN}")
            self._seen_analyzed = self._seen_rows

    def _category(self) -> str:
        t, c = "t", "c"
        cases = [
            f"WHEN {t}.{qn(self.key_cols[0])} IS NULL OR {t}.is_placeholder OR {t}.source_version IS NULL"
            " THEN 'missing'",
            f"WHEN {t}.source_version < {c}.source_version THEN 'behind'",
            f"WHEN {t}.source_version > {c}.source_version THEN 'ahead'",
            f"WHEN {t}.is_deleted <> {c}.rc_deleted THEN 'differs'",
        ]
        if self.data_cols:
            distinct = is_distinct_from(self.pg)
            tests = []
            for col in self.data_cols:
                if col in self.sql.list_cols and not self.pg:  # JSON text: compared as JSON, not as spelt
                    tests.append(f"json({t}.{qn(col)}) {distinct} json({c}.{qn(col)})")
                else:
                    tests.append(f"{t}.{qn(col)} {distinct} {c}.{qn(col)}")
            cases.append(f"WHEN NOT {c}.rc_deleted AND ({' OR '.join(tests)}) THEN 'differs'")
        return "CASE " + " ".join(cases) + " ELSE 'in_sync' END"

    def _compared(self, dupes: list[tuple[int, str]]) -> str:
        """The chunk's first lines of their keys against the website's rows. On PostgreSQL the
        duplicates' line numbers are the statement's second parameter."""
        if self.pg:
            first_lines = f"{CHUNK} c" + (" WHERE c.rc_line_number <> ALL(%s)" if dupes else "")
        else:
            first_lines = f"{CHUNK} c JOIN {SEEN} s ON {self._join('c', 's')} AND s.rc_line_number = c.rc_line_number"
        return (
            f"SELECT c.rc_line_number AS line_number, {self._key_json('c')} AS key_json, c.rc_line AS line,"
            f" c.source_version AS sv, c.source_occurred_at AS so, c.rc_deleted AS sd,"
            f" t.source_version AS wv, t.source_occurred_at AS wo,"
            f" CASE WHEN t.{qn(self.key_cols[0])} IS NULL THEN NULL ELSE t.is_deleted END AS wd,"
            f" {self._category()} AS category"
            f" FROM (SELECT * FROM {first_lines}) c LEFT JOIN {self.sql.table} t ON {self._join('t', 'c')}"
        )

    def compare(
        self, run_id: int, rows: Sequence[SnapshotRow], text: bytes | None = None
    ) -> tuple[dict[str, int], list[tuple[int, str]]]:
        """Stage one chunk (``text``: its ``staged_text``, made already), note its duplicated keys,
        write its drift; (count per category, duplicates)."""
        self._load(rows, text)
        dupes = self.duplicates(len(rows))
        table, names = _drift_columns()
        insert = (
            f"INSERT INTO {table} ({names}) SELECT %s, category, key_json, line_number, wv, wo, wd, sv, so, sd,"
            f" COALESCE(line, ''), 'open' FROM x WHERE category <> 'in_sync'"
        )
        if self.pg:
            self.db.execute(
                f"WITH x AS MATERIALIZED ({self._compared(dupes)}), ins AS ({insert})"
                " SELECT category, count(*) FROM x GROUP BY category",
                [[n for n, _key in dupes], run_id] if dupes else [run_id],
            )
        else:
            self.db.execute(f"WITH x AS ({self._compared(dupes)}) {insert}", [run_id])
            self.db.execute(f"WITH x AS ({self._compared(dupes)}) SELECT category, count(*) FROM x GROUP BY category")
        return {category: int(n) for category, n in self.db.fetchall()}, dupes

    # --- the website's side -------------------------------------------------------------------------------

    def only_on_website(self, run_id: int, taken_at: datetime) -> int:
        """(Complete snapshots) live, non-placeholder rows no line of the snapshot names and whose
        occurredAt is not after takenAt; written as drift, their number returned."""
        key_json = self._key_json("t")
        table, names = _drift_columns()
        when: Any = taken_at if self.pg else self.db.connection.ops.adapt_datetimefield_value(taken_at)
        self.db.execute(
            f"INSERT INTO {table} ({names}) SELECT %s, 'only_on_website', {key_json}, NULL, t.source_version,"
            f" t.source_occurred_at, t.is_deleted, NULL, NULL, NULL, '', 'open' FROM {self.sql.table} t"
            " WHERE NOT t.is_deleted AND NOT t.is_placeholder AND t.source_occurred_at <= %s"
            f" AND NOT EXISTS (SELECT 1 FROM {SEEN} s WHERE {self._join('s', 't')})",
            [run_id, when],
        )
        return self.db.rowcount

    def _key_json(self, alias: str) -> str:
        """The natural key of ``alias``'s row as the contract names it, a JSON object built in SQL."""
        pairs: list[str] = []
        for name, col in zip(self.header_key_names(), self.key_cols, strict=True):
            pairs += [f"'{name}'", f"{alias}.{qn(col)}"]
        return f"CAST(json_build_object({', '.join(pairs)}) AS text)" if self.pg else f"json_object({', '.join(pairs)})"

    def header_key_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.sql.spec.key)
