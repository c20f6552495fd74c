"""Adopting a field on a million rows, and what the extras column costs.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres python -m tests.bench.adopt_field [--rows N]

In a database of its own: N orders (1,000,000 by default) whose extras hold ``discountCode`` (and,
one in four, a second extra that stays), written with one INSERT ... SELECT; the contract then
gains ``orders.discountCode`` and its column (``ingest.testing.contract``, as a deploy would), and

(a) ``adopt_field("orders", "discountCode")`` fills the column: rows/s;
(b) the baseline, on the same rows written again: ONE plain UPDATE of the whole table that does the
    same move in SQL (no batches, no version guard, no check of the values): the database's own speed.

Prints rows/s for each and the ratio of their times, then the storage cost of ``source_extras``:
the table's size with the column NULL (what an event without extras costs: nothing but a bit in
the row's null bitmap) and with ``{"discountCode": "SPRING-0000042"}`` on every row, per million
rows. Target: (a) >= 100,000 rows/s.
"""

from __future__ import annotations

import argparse
import os
import time

from tests.bench.database import (
    create_bench_database,
    drop_bench_database,
    outside_transaction,
    postgres_url,
    setup_django,
)

TARGET_RATE = 100_000


def _populate(rows: int, extras: bool) -> None:
    from django.db import connection

    extras_sql = (
        "CASE WHEN i %% 4 = 0 THEN jsonb_build_object('discountCode', 'SPRING-' || lpad(i::text, 7, '0'),"
        " 'segment', 'B2B') ELSE jsonb_build_object('discountCode', 'SPRING-' || lpad(i::text, 7, '0')) END"
        if extras
        else "NULL"
    )
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE website_order")
        cursor.execute(
            "INSERT INTO website_order (order_number, customer_id, order_date, status, currency, subtotal, tax,"
            " shipping, total, rush, source_version, source_event_id, source_occurred_at, is_deleted,"
            " is_placeholder, source_extras)"
            " SELECT 'SO-' || lpad(i::text, 8, '0'), 'C-' || (i %% 5000), DATE '2026-11-20', 'OPEN', 'USD',"
            " 100, 7, 0, 107, false, 1, md5(i::text)::uuid::text, TIMESTAMPTZ '2026-11-27 10:00:00+00',"
            f" false, false, {extras_sql} FROM generate_series(1, %s) AS i",
            [rows],
        )
    _vacuum()


def _vacuum() -> None:
    outside_transaction("VACUUM ANALYZE website_order", "CHECKPOINT")


def _table_bytes() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_table_size('website_order')")
        return cursor.fetchone()[0]


def _null_cost() -> int:
    """Bytes the NULL ``source_extras`` adds to the table: two copies of it, with and without the column."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) FROM pg_attribute"
            " WHERE attrelid = 'website_order'::regclass AND attnum > 0 AND NOT attisdropped"
            " AND attname <> 'source_extras'"
        )
        others = cursor.fetchone()[0]
        cursor.execute("CREATE TABLE bench_with_null AS SELECT * FROM website_order")
        cursor.execute(f"CREATE TABLE bench_without AS SELECT {others} FROM website_order")
        cursor.execute("SELECT pg_table_size('bench_with_null') - pg_table_size('bench_without')")
        cost = cursor.fetchone()[0]
        cursor.execute("DROP TABLE bench_with_null, bench_without")
    return cost


def _baseline() -> tuple[float, int]:
    from django.db import connection, transaction

    start = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE website_order SET discount_code = source_extras ->> 'discountCode',"
            " source_extras = NULLIF(source_extras - 'discountCode', '{}'::jsonb)"
            " WHERE source_extras ? 'discountCode'"
        )
        count = cursor.rowcount
    return time.perf_counter() - start, count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--keep", action="store_true", help="Keep the benchmark's database.")
    args = parser.parse_args()
    url = postgres_url()
    if url is None:
        raise SystemExit(2)
    bench_url, bench_name = create_bench_database(url, "adopt_field")
    try:
        setup_django(DATABASE_URL=bench_url)
        from django.db import models

        from ingest.services.repair.adopt_field import BATCH_SIZE, adopt_field
        from ingest.testing.contract import contract_change, stream_entry

        rows = args.rows
        per_million = 1_000_000 / rows
        _populate(rows, extras=False)
        without = _table_bytes()
        null_cost = _null_cost()
        _populate(rows, extras=True)
        with_extras = _table_bytes()
        print(f"rows: {rows:,}; load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
        print(
            f"storage: table {without / 2**20:,.1f} MiB with source_extras NULL,"
            f" {with_extras / 2**20:,.1f} MiB with one extra of 14 characters (a quarter with two):"
            f" {(with_extras - without) * per_million / 2**20:,.1f} MiB per million rows for the extras;"
            f" the column NULL (an event without extras) costs {null_cost * per_million / 2**20:,.2f} MiB"
            " per million rows (its bit in the null bitmap)"
        )

        def add(document: dict) -> None:
            stream_entry(document, "orders")["fields"].append(
                {"name": "discountCode", "type": "string", "optional": True}
            )

        with contract_change(add, columns={"Order": {"discount_code": models.TextField(null=True, blank=True)}}):
            _vacuum()
            report = adopt_field("orders", "discountCode", batch_size=args.batch_size or BATCH_SIZE)
            assert report.adopted == rows and report.invalid == 0 and report.newer == 0, report
            rate = report.found / report.seconds
            print(
                f"(a) adopt_field: {report.adopted:,} rows in {report.seconds:.2f} s = {rate:,.0f} rows/s"
                f" ({report.batches} batches of {args.batch_size or BATCH_SIZE:,}); target >= {TARGET_RATE:,}:"
                f" {'met' if rate >= TARGET_RATE else 'NOT met'}"
            )
            again = adopt_field("orders", "discountCode")
            print(f"    again (idempotent): {again.found} rows found, {again.seconds:.2f} s")

            _populate(rows, extras=True)
            seconds, count = _baseline()
            assert count == rows
            print(f"(b) baseline, one plain UPDATE: {count:,} rows in {seconds:.2f} s = {count / seconds:,.0f} rows/s")
            print(f"ratio adopt_field / baseline (time): {report.seconds / seconds:.2f}")
    finally:
        if not args.keep:
            from django.db import connections

            connections.close_all()
            drop_bench_database(url, bench_name)


if __name__ == "__main__":
    main()
