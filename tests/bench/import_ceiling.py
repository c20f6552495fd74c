"""The importer against the database's own speed: raw COPY + one guarded merge, in the same run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres python -m tests.bench.import_ceiling

Writes a Firehose-shaped GZIP file of N order lines (200,000 by default) and a second one with
every version raised, then times on PostgreSQL, in its own database:

(a) ``import_file`` of the first file (every key new),
(b) ``import_file`` of the second (every row updated),
(c) the ceiling, the database's time only: the same rows, already parsed, built into the
    project's staging rows and encoded to COPY text bytes before the clock starts; inside it
    ``COPY`` into a staging table and the project's own statement (``upsert._merge_postgres``:
    the guarded ``INSERT ... ON CONFLICT ... DO UPDATE ... WHERE <version guard>`` into the real
    table, the placeholder orders held or created), for the new keys and then for the updates;
(c') the same with psycopg encoding the rows inside the clock (``write_row``), printed beside
    it so that the difference stays visible,
(d) parsing alone: the project's reader and line parser over the first file.

It prints records/s for each and the ratios importer/ceiling (time over time) for inserts and
updates. Target: both ratios <= 2.0 and >= 100,000 records/s on new keys.
"""

from __future__ import annotations

import argparse
import gzip
import os
import tempfile
import time
from datetime import date, datetime
from pathlib import Path

from tests.bench.database import (
    create_bench_database,
    drop_bench_database,
    outside_transaction,
    postgres_url,
    setup_django,
)
from tests.bench.import_load import _event, write_file

TARGET_RATIO = 2.0
TARGET_INSERT_RATE = 100_000


def _line(i: int, lines_per_order: int, version: int) -> dict:
    order, line = divmod(i, lines_per_order)
    return _event(
        "order-lines",
        {"orderNumber": f"SO-{order:07d}", "lineNumber": line + 1},
        {
            "sku": f"JRN-{i % 977}",
            "description": "A5 linen journal, gold foil deboss | dotted, 192 pages",
            "quantity": 25 + i % 100 + version,
            "unitPrice": "12.5000",
            "extendedPrice": "312.5000",
            "imprintMethod": "FOIL",
            "imprintColors": ["GOLD", "PMS 186"],
        },
        version=version,
    )


def _reset_tables() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE website_orderline, website_order, ingest_importlineerror, ingest_importattempt,"
            " ingest_importfile CASCADE"
        )


def _vacuum() -> None:
    """Both runs start from the same state of the table files and statistics."""
    outside_transaction("VACUUM ANALYZE website_orderline", "VACUUM ANALYZE website_order", "CHECKPOINT")


def import_one(path: Path) -> tuple[float, dict]:
    from ingest.services.importing.run import import_file
    from ingest.services.intake.registration import register_local_file

    start = time.perf_counter()
    f, _ = register_local_file(path)
    outcome = import_file(f.pk, trigger="bench")
    elapsed = time.perf_counter() - start
    assert outcome.status == "imported", outcome
    return elapsed, outcome.counts


def parse_rows(path: Path) -> tuple[float, list]:
    """(d) The project's reader and parser over the file, set up as the importer sets them up on
    PostgreSQL; returns the time and the parsed events."""
    from ingest.services.importing.collector import fewer_collections
    from ingest.services.importing.parsing import LineParser
    from transforms.streams import STREAMS
    from transforms.system_one.reader import iter_lines

    parser = LineParser(STREAMS["order-lines"], reject_nul=True, text_values=True)
    events = []
    start = time.perf_counter()
    with fewer_collections(), gzip.open(path, "rb") as fh:
        for number, raw in iter_lines(fh):
            if raw:
                events.append(parser.parse(raw, number))
    return time.perf_counter() - start, events


def _copy_text(value: object) -> str:
    """One value in COPY's text format (what psycopg writes for it)."""
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    text = value if isinstance(value, str) else str(value)
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text:
        text = text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return text


def copy_bytes(rows: list[tuple]) -> bytes:
    """The rows as the COPY text the database reads: built before the clock starts."""
    return "".join("\t".join(map(_copy_text, row)) + "\n" for row in rows).encode()


def ceiling(events: list, *, pre_encoded: bool) -> float:
    """(c) The database's part of an import: COPY into a staging table, then the project's own
    statement (``ingest.services.loading.upsert``: the guarded merge into the real table, the
    placeholder parents it names held or created, the counts), in one transaction.

    The rows are the project's staging rows (``row_builder``), built before the clock starts.
    ``pre_encoded``: also encoded to COPY text bytes before it, so the clock holds the database's
    time only; otherwise psycopg encodes each row inside it (``write_row``), as the importer does."""
    from django.db import connection, transaction

    from ingest.services.loading.dialect import Db, Staged
    from ingest.services.loading.tables import qn, table_sql
    from ingest.services.loading.upsert import _merge_postgres, _plan, row_builder

    with transaction.atomic():
        db = Db(connection)
        sql = table_sql("order-lines", connection)
        plan = _plan(db, sql, False, False, ())
        build = row_builder(sql, db, False)
        rows = [build(ev) for ev in events]
        data = copy_bytes(rows) if pre_encoded else b""
        definition = ", ".join(f"{qn(c)} {t}" for c, t in plan.stage_columns)
        names = ", ".join(qn(c) for c, _t in plan.stage_columns)
        start = time.perf_counter()
        db.execute(f"CREATE TEMPORARY TABLE ceiling_stage ({definition}) ON COMMIT DROP")
        with db.cursor.copy(f"COPY ceiling_stage ({names}) FROM STDIN") as copy:
            if pre_encoded:
                copy.write(data)
            else:
                for row in rows:
                    copy.write_row(row)
        applied, _created, *_rest = _merge_postgres(db, plan, Staged("ceiling_stage"), None)
        assert applied == len(rows), applied
        db.close()
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--lines-per-order", type=int, default=10)
    args = parser.parse_args()

    url = postgres_url()
    if url is None:
        return 2
    bench_url, bench_name = create_bench_database(url, "ceiling_bench")
    setup_django(DATABASE_URL=bench_url)
    from django.conf import settings
    from django.db import connections

    n = args.lines
    try:
        with tempfile.TemporaryDirectory() as folder:
            base = Path(folder) / "order-lines" / "2026" / "11" / "27" / "10"
            first, second = base / "ceiling-v1.gz", base / "ceiling-v2.gz"
            t = time.perf_counter()
            write_file(first, (_line(i, args.lines_per_order, 1) for i in range(n)))
            write_file(second, (_line(i, args.lines_per_order, 2) for i in range(n)))
            print(
                f"wrote 2 files of {n:,} order lines ({time.perf_counter() - t:.1f} s);"
                f" batch size {settings.INGEST_BATCH_SIZE:,}; load {os.getloadavg()[0]:.2f}"
            )

            parse_time, v1 = parse_rows(first)
            _, v2 = parse_rows(second)

            _reset_tables()
            _vacuum()
            ins_time, ins_counts = import_one(first)
            upd_time, upd_counts = import_one(second)
            assert ins_counts["rows_created"] == n and upd_counts["rows_updated"] == n, (ins_counts, upd_counts)

            ceilings = {}
            for pre_encoded in (True, False):
                _reset_tables()
                _vacuum()
                ceilings[pre_encoded] = (ceiling(v1, pre_encoded=pre_encoded), ceiling(v2, pre_encoded=pre_encoded))
            ceil_ins, ceil_upd = ceilings[True]

            rows = [
                ("(a) importer, new keys", ins_time),
                ("(b) importer, updates", upd_time),
                ("(c) database, new keys", ceil_ins),
                ("(c) database, updates", ceil_upd),
                ("(c') + Python encoding, new", ceilings[False][0]),
                ("(c') + Python encoding, upd", ceilings[False][1]),
                ("(d) parse only", parse_time),
            ]
            for label, seconds in rows:
                print(f"{label:<30} {n / seconds:>10,.0f} records/s  ({seconds:.2f} s)")
            print(
                "(c): rows encoded to COPY text before the clock; COPY into staging, the placeholder orders and"
                " the project's guarded merge inside it. (c'): the same with psycopg encoding each row inside it."
            )
            r_ins, r_upd = ins_time / ceil_ins, upd_time / ceil_upd
            print(f"ratio importer/(c): inserts {r_ins:.2f}, updates {r_upd:.2f}")
            print(
                f"ratio importer/(c'): inserts {ins_time / ceilings[False][0]:.2f},"
                f" updates {upd_time / ceilings[False][1]:.2f}"
            )
            ratios_ok = r_ins <= TARGET_RATIO and r_upd <= TARGET_RATIO
            print(f"target ratios importer/(c) <= {TARGET_RATIO}: {'met' if ratios_ok else 'NOT met'}")
            rate_ok = n / ins_time >= TARGET_INSERT_RATE
            print(
                f"target >= {TARGET_INSERT_RATE:,} records/s on new keys: {'met' if rate_ok else 'NOT met'}"
                f" (this server's own COPY + merge: {n / ceil_ins:,.0f}/s; load {os.getloadavg()[0]:.2f})"
            )
    finally:
        connections.close_all()
        drop_bench_database(url, bench_name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
