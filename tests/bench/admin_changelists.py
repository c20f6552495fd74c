"""Server time and query count of the admin's big changelists, on PostgreSQL.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres python -m tests.bench.admin_changelists

Works in its own database ``<name>_admin_bench`` (created here, dropped at the end unless
``--keep``), or in the one given with ``--database-url`` (migrated, loaded only if empty, never
dropped). Bulk-loads 100,000 ImportFiles (with line errors) and 1,000,000 order lines (with
their 250,000 orders and 50,000 customers) with ``INSERT ... SELECT FROM generate_series``,
ANALYZEs, then requests every page with Django's test Client, logged in as a superuser:
the median of several runs is the server time (the whole request in-process: middleware, queries,
template), the query count comes from one more run. Target: under 0.5 s per page.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[2]
TARGET_SECONDS = 0.5


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def _database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def _admin_connection(url: str):
    import psycopg

    return psycopg.connect(_with_database(url, "postgres"), autocommit=True, connect_timeout=10)


def create_database(url: str, *, replace: bool) -> None:
    name = _database_name(url)
    with _admin_connection(url) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if exists and replace:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            exists = None
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


def drop_database(url: str) -> None:
    with _admin_connection(url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{_database_name(url)}" WITH (FORCE)')


# --- loading -------------------------------------------------------------------------------


def insert_series(model, n: int, exprs: dict[str, str], *, start: int = 1) -> None:
    """``INSERT INTO <table> SELECT ... FROM generate_series(start, start + n - 1) AS i``: the given
    SQL expressions (of ``i``) for some columns, every other column its model default (or NULL),
    so that a field added later does not break the benchmark."""
    from django.db import connection

    columns, values, params = [], [], []
    for field in model._meta.concrete_fields:
        if field.primary_key:
            continue
        columns.append(connection.ops.quote_name(field.column))
        if field.attname in exprs:
            values.append(exprs[field.attname].replace("%", "%%"))  # SQL's modulo, not a placeholder
        elif field.null and not field.has_default():
            values.append("NULL")
        else:
            default = field.get_default()  # "" for a text field without a default
            if default is None:
                raise ValueError(f"{model._meta.label}.{field.attname}: no value, no default, not nullable")
            values.append("%s")
            params.append(field.get_db_prep_save(default, connection))
    sql = (
        f"INSERT INTO {connection.ops.quote_name(model._meta.db_table)} ({', '.join(columns)}) "
        f"SELECT {', '.join(values)} FROM generate_series(%s, %s) AS i"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, start, start + n - 1])


def load(n_files: int, n_lines: int, lines_per_order: int, n_customers: int) -> dict[str, float]:
    from django.db import connection, transaction

    from ingest.models import ImportFile
    from transforms.streams import STREAM_NAMES
    from website.models import Customer, Order, OrderLine

    n_orders = n_lines // lines_per_order
    streams = "ARRAY[" + ", ".join(f"'{s}'" for s in STREAM_NAMES) + "]"
    timings = {}
    # Files: one every ~86 s over the last 100 days (newest first by id), 9 streams round robin;
    # 96 % imported, 2 % with bad lines, 1 % failed, 1 % pending.
    created = "now() - (i * interval '86 seconds')"
    status = (
        "CASE WHEN i % 100 = 7 THEN 'failed' WHEN i % 100 = 8 THEN 'pending' "
        "WHEN i % 50 = 3 THEN 'imported_with_errors' ELSE 'imported' END"
    )
    stream = f"({streams})[1 + i % {len(STREAM_NAMES)}]"
    started = time.perf_counter()
    with transaction.atomic():
        insert_series(
            ImportFile,
            n_files,
            {
                "bucket": "'erp-ingest-prod'",
                "stream": stream,
                "key": (
                    f"{stream} || to_char({created}, '/YYYY/MM/DD/HH24/') || 'prod-' || {stream} || '-1-' || "
                    f"to_char({created}, 'YYYY-MM-DD-HH24-MI-SS-') || md5(i::text)"
                ),
                "etag": "md5('etag' || i::text)",
                "size": "100000 + i % 5000",
                "status": status,
                "registered_by": "'notification'",
                "error_message": f"CASE WHEN {status} = 'failed' THEN 'SourceMissing: gone' ELSE '' END",
                "attempts_count": f"CASE WHEN {status} = 'pending' THEN 0 ELSE 1 END",
                "s3_event_time": f"{created} - interval '2 seconds'",
                "received_at": f"{created} - interval '1 second'",
                "enqueued_at": created,
                "started_at": f"CASE WHEN {status} = 'pending' THEN NULL ELSE {created} + interval '1 second' END",
                "finished_at": (
                    f"CASE WHEN {status} = 'pending' THEN NULL ELSE {created} + (2 + i % 7) * interval '1 second' END"
                ),
                "duration_seconds": f"CASE WHEN {status} = 'pending' THEN NULL ELSE 0.5 + (i % 10) / 10.0 END",
                "lag_seconds": f"CASE WHEN {status} IN ('imported', 'imported_with_errors') THEN 4 + i % 7 END",
                "lines_total": "400 + i % 200",
                "rows_created": "100 + i % 100",
                "rows_updated": "250 + i % 50",
                "rows_stale": "i % 5",
                "rows_deleted": "i % 3",
                "placeholders_created": "i % 4",
                "errors_count": f"CASE WHEN {status} = 'imported_with_errors' THEN 3 ELSE 0 END",
                "created_at": created,
                "updated_at": created,
            },
        )
        first_file = ImportFile.objects.order_by("pk").values_list("pk", flat=True).first()
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO ingest_importlineerror (import_file_id, line_number, raw_text, message, created_at) "
                "SELECT f.id, n, 'ORD|1|U|<b>broken</b>|' || n, 'not a System One record', f.created_at "
                "FROM ingest_importfile f CROSS JOIN generate_series(1, 3) AS n "
                "WHERE f.status = 'imported_with_errors'"
            )
            # The ERP clock of every import: its newest occurredAt and a lag histogram of 4 buckets
            # (30 s to 5 min), as the importer writes them, for the dashboard's columns and charts.
            done = "f.status IN ('imported', 'imported_with_errors')"
            cursor.execute(
                "INSERT INTO ingest_importeventclock (import_file_id, stream, committed_at, events, "
                "oldest_occurred_at, newest_occurred_at) SELECT f.id, f.stream, f.finished_at, f.lines_total, "
                "f.finished_at - interval '10 minutes', f.finished_at - (30 + f.id % 60) * interval '1 second' "
                f"FROM ingest_importfile f WHERE {done}"
            )
            cursor.execute(
                "INSERT INTO ingest_eventlagcount (import_file_id, stream, committed_at, bucket, count) "
                "SELECT f.id, f.stream, f.finished_at, b, 50 + (f.id + b) % 100 "
                f"FROM ingest_importfile f CROSS JOIN generate_series(7, 10) AS b WHERE {done}"
            )
    timings["files"] = time.perf_counter() - started

    started = time.perf_counter()
    last_import = f"{first_file} + i % {n_files}"
    with transaction.atomic():
        insert_series(
            Customer,
            n_customers,
            {
                "customer_number": "'C-' || lpad(i::text, 6, '0')",
                "name": "'Customer ' || i",
                "email": "'c' || i || '@example.com'",
                "status": "(ARRAY['ACTIVE', 'INACTIVE', 'ON_HOLD'])[1 + i % 3]",
                "currency": "'USD'",
                "billing_city": "'Portland'",
                "billing_country_code": "'US'",
                "source_version": "1",
                "last_import_id": last_import,
            },
        )
        insert_series(
            Order,
            n_orders,
            {
                "order_number": "'SO-' || lpad(i::text, 7, '0')",
                "customer_id": f"'C-' || lpad((1 + i % {n_customers})::text, 6, '0')",
                "order_date": "date '2026-01-01' + i % 330",
                "status": "(ARRAY['OPEN', 'IN_PRODUCTION', 'SHIPPED', 'CLOSED', 'CANCELLED'])[1 + i % 5]",
                "currency": "'USD'",
                "subtotal": "(i % 1000) * 10.5",
                "tax": "(i % 1000) * 0.7",
                "shipping": "12.5",
                "total": "(i % 1000) * 11.2 + 12.5",
                "rush": "i % 7 = 0",
                "source_version": "1 + i % 3",
                "is_deleted": "i % 200 = 0",
                "is_placeholder": "i % 1000 = 1",
                "last_import_id": last_import,
            },
        )
    timings["orders"] = time.perf_counter() - started

    started = time.perf_counter()
    with transaction.atomic():
        insert_series(
            OrderLine,
            n_lines,
            {
                "order_id": f"'SO-' || lpad((1 + (i - 1) / {lines_per_order})::text, 7, '0')",
                "line_number": f"1 + (i - 1) % {lines_per_order}",
                "sku": "'JRN-' || i % 977",
                "description": "'A5 linen journal, gold foil deboss | dotted, 192 pages'",
                "quantity": "25 + i % 100",
                "unit_price": "12.5",
                "extended_price": "312.5",
                "imprint_method": "'FOIL'",
                "imprint_colors": '\'["GOLD", "PMS 186"]\'::jsonb',
                "source_version": "1",
                "is_deleted": "i % 200 = 0",
                "is_placeholder": "i % 1000 = 1",
                "last_import_id": last_import,
            },
        )
    timings["order lines"] = time.perf_counter() - started

    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    timings["analyze"] = time.perf_counter() - started
    return timings


# --- timing ----------------------------------------------------------------------------------


def pages() -> list[tuple[str, str]]:
    from django.urls import reverse

    from ingest.models import ImportFile

    files = reverse("admin:ingest_importfile_changelist")
    lines = reverse("admin:website_orderline_changelist")
    orders = reverse("admin:website_order_changelist")
    with_errors = ImportFile.objects.filter(status="imported_with_errors").order_by("-created_at").first()
    assert with_errors is not None
    some_key, some_day = ImportFile.objects.order_by("-created_at").values_list("key", "created_at")[500]
    return [
        ("ImportFile list", files),
        ("ImportFile status=failed", f"{files}?status__exact=failed"),
        ("ImportFile status=imported", f"{files}?status__exact=imported"),
        ("ImportFile stream+status", f"{files}?stream__exact=orders&status__exact=imported"),
        ("ImportFile search key prefix (day)", f"{files}?q={some_key[: some_key.index('/') + 11]}"),
        ("ImportFile search key prefix (one)", f"{files}?q={some_key[:-4]}"),
        (
            "ImportFile date hierarchy (a day)",
            f"{files}?created_at__year={some_day.year}&created_at__month={some_day.month}&created_at__day={some_day.day}",
        ),
        ("ImportFile oldest first", f"{files}?o=1"),
        ("ImportFile detail", reverse("admin:ingest_importfile_change", args=[with_errors.pk])),
        ("Line errors list", reverse("admin:ingest_importlineerror_changelist")),
        ("OrderLine list", lines),
        ("OrderLine page 5000", f"{lines}?p=5000"),
        ("OrderLine is_placeholder=1", f"{lines}?is_placeholder__exact=1"),
        ("OrderLine is_deleted=0", f"{lines}?is_deleted__exact=0"),
        ("OrderLine search order", f"{lines}?q=SO-0123456"),
        ("OrderLine search order/line", f"{lines}?q=SO-0123456/2"),
        ("Order list", orders),
        ("Order status=OPEN", f"{orders}?status__exact=OPEN"),
        ("Order search prefix", f"{orders}?q=SO-01234"),
        ("Order is_deleted=1", f"{orders}?is_deleted__exact=1"),
        ("Customer list", reverse("admin:website_customer_changelist")),
        ("Freshness dashboard", reverse("admin:ingest_freshness")),
    ]


def measure(runs: int) -> list[tuple[str, float, float, int, int]]:
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    user_model = get_user_model()
    user = user_model.objects.filter(username="bench").first() or user_model.objects.create_superuser(
        "bench", "bench@example.com", None
    )
    client = Client()
    client.force_login(user)
    results = []
    for label, url in pages():
        response = client.get(url)  # warm-up: caches, connection, plans
        if response.status_code != 200:
            raise SystemExit(f"{label}: HTTP {response.status_code} for {url}")
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            client.get(url)
            times.append(time.perf_counter() - started)
        with CaptureQueriesContext(connection) as queries:
            client.get(url)
        results.append((label, statistics.median(times), max(times), len(queries), response.status_code))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", help="use this PostgreSQL database as is (loaded if empty)")
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--order-lines", type=int, default=1_000_000)
    parser.add_argument("--lines-per-order", type=int, default=4)
    parser.add_argument("--customers", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database (default: drop it)")
    args = parser.parse_args(argv)

    base = os.environ.get("DATABASE_URL", "")
    if args.database_url:
        url, own = args.database_url, False
    elif base.startswith(("postgres://", "postgresql://")):
        url, own = _with_database(base, f"{_database_name(base) or 'postgres'}_admin_bench"), True
    else:
        parser.error("needs PostgreSQL: set DATABASE_URL=postgres://... or pass --database-url")
    if own:
        create_database(url, replace=True)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "website.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connections

    from ingest.models import ImportFile
    from website.models import OrderLine

    try:
        call_command("migrate", verbosity=0)
        print(f"database: {_database_name(url)}")
        if ImportFile.objects.exists() or OrderLine.objects.exists():
            print(f"reusing its data: {ImportFile.objects.count():,} files, {OrderLine.objects.count():,} order lines")
        else:
            print(f"loading {args.files:,} files and {args.order_lines:,} order lines ...")
            for step, seconds in load(args.files, args.order_lines, args.lines_per_order, args.customers).items():
                print(f"  {step:<12} {seconds:6.1f} s")
        results = measure(args.runs)
    finally:
        connections.close_all()
        if own and not args.keep:
            drop_database(url)

    print(f"\n{'page':<38} {'median':>9} {'max':>9} {'queries':>8}   (server time, {args.runs} runs)")
    slow = 0
    for label, median, worst, queries, _ in results:
        flag = "" if median < TARGET_SECONDS else "  SLOW"
        slow += bool(flag)
        print(f"{label:<38} {median * 1000:7.1f}ms {worst * 1000:7.1f}ms {queries:8d}{flag}")
    print(f"\n{len(results) - slow}/{len(results)} pages under {TARGET_SECONDS * 1000:.0f} ms (median)")
    # Server time is CPU time in this process: a busy machine inflates it, so say how busy it was.
    print(f"load average during the run: {' '.join(f'{v:.2f}' for v in os.getloadavg())} on {os.cpu_count()} CPUs")
    return 1 if slow else 0


if __name__ == "__main__":
    sys.exit(main())
