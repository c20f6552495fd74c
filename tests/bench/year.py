"""A year of operation on PostgreSQL: the admin's pages at that volume, and pruning it while files
keep arriving.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres python -m tests.bench.year [--scale 0.1] [--keep]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres python -m tests.bench.year --pages-of postgres_year_bench

In a database of its own (``<name>_year_bench``, dropped at the end unless ``--keep``) it builds,
with COPY (rows written by this process as COPY text, never the ORM), the volume the issue names:
5,000,000 import files spread over the last 365 days (9 streams; 96 % imported, 2 % with bad
lines, 1 % failed, 1 % pending), 5,000,000 attempts, 2,000,000 line errors, and for the last week
the ERP-clock rows and lag histograms, for the last 30 days the delivered outbox rows. ``--scale``
multiplies every count (a shared 2-core machine builds 12 M rows slowly). Then:

1. VACUUM ANALYZE (what autovacuum did over the year) and the rollup of the year into the hourly
   and daily aggregates (what the sweep did as each hour ended; timed);
2. the database's size, and the median server time of every admin changelist and of the
   freshness dashboard (Django's test client, logged in as a superuser; target < 300 ms);
3. a steady import stream (small local files, ``--rate`` per second, imported in a thread of this
   process: register, import, commit) for ``--stream-seconds`` without pruning: the baseline lag;
4. the same stream while ``prune`` removes the year's expired records (at most ``--prune-seconds``):
   prune rows/s, the longest prune transaction (the longest any of its locks was held), and the
   import lag p50/p99 during pruning against the baseline (target: p50 <= 0.2 s);
5. the pages again, after pruning.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.bench.database import (
    create_bench_database,
    drop_bench_database,
    outside_transaction,
    postgres_url,
    setup_django,
)

TARGET_PAGE_SECONDS = 0.3
TARGET_LAG_P50 = 0.2
FILES, ATTEMPTS, LINE_ERRORS = 5_000_000, 5_000_000, 2_000_000
CHUNK = 50_000


# --- building the volume with COPY -----------------------------------------------------------


def _ts(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S.%f+00")


def _copy(table: str, columns: list[str], rows) -> int:
    """COPY ``rows`` (tuples of already-formatted text; None is NULL) into ``table`` in chunks."""
    from django.db import connection

    n = 0
    connection.ensure_connection()
    raw = connection.connection  # psycopg 3
    with raw.cursor() as cursor, cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        buffer = io.StringIO()
        for row in rows:
            buffer.write("\t".join(r"\N" if v is None else str(v) for v in row))
            buffer.write("\n")
            n += 1
            if n % CHUNK == 0:
                copy.write(buffer.getvalue())
                buffer = io.StringIO()
        copy.write(buffer.getvalue())
    return n


def _status(i: int) -> str:
    if i % 100 == 7:
        return "failed"
    if i % 100 == 8:
        return "pending"
    if i % 50 == 3:
        return "imported_with_errors"
    return "imported"


def build(files: int, attempts: int, line_errors: int, *, now: float) -> dict[str, float]:
    """Files 1..files, oldest first, one every (365 days / files) up to ``now``."""
    from django.db import connection

    from transforms.streams import STREAM_NAMES

    streams = list(STREAM_NAMES)
    step = 365 * 86400 / files
    start = now - 365 * 86400
    timings: dict[str, float] = {}

    def file_rows():
        for i in range(1, files + 1):
            created = start + i * step
            status = _status(i)
            stream = streams[i % len(streams)]
            stamp = datetime.fromtimestamp(created, UTC)
            key = f"{stream}/{stamp:%Y/%m/%d/%H}/prod-{stream}-1-{stamp:%Y-%m-%d-%H-%M-%S}-{i:08x}"
            done = status != "pending"
            finished = _ts(created + 2 + i % 7) if done else None
            imported = status in ("imported", "imported_with_errors")
            yield (
                i, "erp-ingest-prod", key, f"{i:032x}", "", "", 100000 + i % 5000, stream, status, "notification",
                "SourceMissing: gone" if status == "failed" else "", 1 if done else 0, 0,
                _ts(created - 2), _ts(created - 1), _ts(created), _ts(created + 1) if done else None, finished,
                0.5 + (i % 10) / 10 if done else None, 4 + i % 7 if imported else None,
                400 + i % 200, 100 + i % 100, 250 + i % 50, i % 5, i % 3, i % 4,
                3 if status == "imported_with_errors" else 0, _ts(created), _ts(created), 0,
            )  # fmt: skip

    columns = [
        "id", "bucket", "key", "etag", "version_id", "sequencer", "size", "stream", "status", "registered_by",
        "error_message", "attempts_count", "redeliveries", "s3_event_time", "received_at", "enqueued_at",
        "started_at", "finished_at", "duration_seconds", "lag_seconds", "lines_total", "rows_created",
        "rows_updated", "rows_stale", "rows_deleted", "placeholders_created", "errors_count", "created_at",
        "updated_at", "retries",
    ]  # fmt: skip
    t = time.perf_counter()
    _copy("ingest_importfile", columns, file_rows())
    timings["import files"] = time.perf_counter() - t

    def attempt_rows():
        for n in range(1, attempts + 1):
            i = (n - 1) % files + 1
            number = (n - 1) // files + 1
            status = _status(i)
            if status == "pending":
                status = "failed"
            created = start + i * step
            yield (
                n, i, number, "task", status, "worker@bench", "", "false", "", _ts(created + 1),
                _ts(created + 2 + i % 7), 0.5 + (i % 10) / 10, 400 + i % 200, 100 + i % 100, 250 + i % 50,
                i % 5, i % 3, i % 4, 3 if status == "imported_with_errors" else 0,
            )  # fmt: skip

    columns = [
        "id", "import_file_id", "number", "trigger", "status", "worker", "task_id", "dry_run", "error_message",
        "started_at", "finished_at", "duration_seconds", "lines_total", "rows_created", "rows_updated",
        "rows_stale", "rows_deleted", "placeholders_created", "errors_count",
    ]  # fmt: skip
    t = time.perf_counter()
    _copy("ingest_importattempt", columns, attempt_rows())
    timings["attempts"] = time.perf_counter() - t

    with_errors = [i for i in range(3, files + 1, 50) if _status(i) == "imported_with_errors"]

    def line_error_rows():
        per_file = max(1, -(-line_errors // max(1, len(with_errors))))
        n = 0
        for i in with_errors:
            created = _ts(start + i * step + 2)
            for line in range(1, per_file + 1):
                n += 1
                if n > line_errors:
                    return
                yield (n, i, i if i <= attempts else None, line * 7, f"ORD|1|U|<b>broken</b>|{line}",
                       "not a System One record", created)  # fmt: skip

    t = time.perf_counter()
    _copy(
        "ingest_importlineerror",
        ["id", "import_file_id", "attempt_id", "line_number", "raw_text", "message", "created_at"],
        line_error_rows(),
    )
    timings["line errors"] = time.perf_counter() - t

    week_from = max(1, int((now - 7 * 86400 - start) / step))
    month_from = max(1, int((now - 30 * 86400 - start) / step))
    t = time.perf_counter()
    with connection.cursor() as cursor:
        done = "f.status IN ('imported', 'imported_with_errors')"
        cursor.execute(
            "INSERT INTO ingest_importeventclock (import_file_id, stream, committed_at, events, oldest_occurred_at, "
            "newest_occurred_at) SELECT f.id, f.stream, f.finished_at, f.lines_total, f.finished_at - interval "
            f"'10 minutes', f.finished_at - interval '40 seconds' FROM ingest_importfile f WHERE f.id >= %s AND {done}",
            [week_from],
        )
        cursor.execute(
            "INSERT INTO ingest_eventlagcount (import_file_id, stream, committed_at, bucket, count) "
            "SELECT f.id, f.stream, f.finished_at, 7 + f.id %% 3, 50 + f.id %% 100 FROM ingest_importfile f "
            f"WHERE f.id >= %s AND {done}",
            [week_from],
        )
        cursor.execute(
            "INSERT INTO ingest_changenotification (import_file_id, stream, part, created_keys, updated_keys, "
            "deleted_keys, created_at, delivered_at, attempts, last_error) SELECT f.id, f.stream, 1, "
            "'[\"SO-1\"]', '[]', '[]', f.finished_at, f.finished_at, 1, '' FROM ingest_importfile f "
            f"WHERE f.id >= %s AND {done}",
            [month_from],
        )
        for table in ("ingest_importfile", "ingest_importattempt", "ingest_importlineerror"):
            cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
    timings["clocks, outbox"] = time.perf_counter() - t
    # What autovacuum did over the year: freshly COPYed pages are not yet marked all-visible, so
    # every index-only scan would still read the table. VACUUM needs its own transaction.
    t = time.perf_counter()
    outside_transaction("VACUUM (ANALYZE)")
    timings["vacuum, analyze"] = time.perf_counter() - t
    return timings


# --- the admin's pages -------------------------------------------------------------------------


def pages() -> list[tuple[str, str]]:
    from django.urls import reverse

    from ingest.models import ImportFile, ImportLedgerEntry

    files = reverse("admin:ingest_importfile_changelist")
    built = ImportFile.objects.filter(bucket="erp-ingest-prod").order_by("-id")  # not the import stream's files
    some_id, some_key, some_day = built.values_list("id", "key", "created_at")[500]
    old_key = (
        built.filter(created_at__lt=some_day - timedelta(days=80)).values_list("key", flat=True).first() or some_key
    )
    with_errors = [
        ImportFile.objects.filter(status="imported_with_errors").order_by("-id").values_list("id", flat=True).first()
    ]
    ledger = reverse("admin:ingest_importledgerentry_changelist")
    page = max(1, min(2000, ImportFile.objects.count() // 200))
    outbox = reverse("admin:ingest_changenotification_changelist")
    ledger_key = ImportLedgerEntry.objects.order_by("-id").values_list("key", flat=True).first()
    out = [
        ("ImportFile list", files),
        ("ImportFile status=failed", f"{files}?status__exact=failed"),
        ("ImportFile stream+status", f"{files}?stream__exact=orders&status__exact=imported"),
        ("ImportFile search key prefix (day)", f"{files}?q={some_key[: some_key.index('/') + 11]}"),
        ("ImportFile search key prefix (old day)", f"{files}?q={old_key[: old_key.index('/') + 11]}"),
        ("ImportFile search key (one)", f"{files}?q={some_key}"),
        (
            "ImportFile date hierarchy (a day)",
            f"{files}?created_at__year={some_day.year}&created_at__month={some_day.month}&created_at__day={some_day.day}",
        ),
        ("ImportFile oldest first", f"{files}?o=1"),
        (f"ImportFile page {page}", f"{files}?p={page}"),
        (
            "ImportFile detail",
            reverse("admin:ingest_importfile_change", args=[with_errors[0] if with_errors else some_id]),
        ),
        ("Line errors list", reverse("admin:ingest_importlineerror_changelist")),
        ("Change outbox list", outbox),
        (
            "Change outbox stream=orders",
            reverse("admin:ingest_changenotification_changelist") + "?stream__exact=orders",
        ),
        ("Failed records list", reverse("admin:ingest_failedrecord_changelist")),
        ("Unreadable messages list", reverse("admin:ingest_unreadablemessage_changelist")),
        ("Error-output files list", reverse("admin:ingest_erroroutputfile_changelist")),
        ("Ledger list", ledger),
        ("Ledger stream=orders", f"{ledger}?stream__exact=orders"),
        ("Stream stats list", reverse("admin:ingest_streamstats_changelist")),
        ("Stream stats period=day", reverse("admin:ingest_streamstats_changelist") + "?period__exact=day"),
        ("Freshness dashboard", reverse("admin:ingest_freshness")),
    ]
    if ledger_key:
        out.insert(-3, ("Ledger search key prefix", f"{ledger}?q={ledger_key[: ledger_key.index('/') + 11]}"))
    return out


def measure_pages(runs: int) -> list[tuple[str, float, float, int, float, float]]:
    """Per page: median and max server time, then from one more request the number of queries, the
    time spent in them (what grows with the volume) and the slowest one; the rest is Python."""
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
        response = client.get(url)
        if response.status_code != 200:
            raise SystemExit(f"{label}: HTTP {response.status_code} for {url}")
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            client.get(url)
            times.append(time.perf_counter() - started)
        with CaptureQueriesContext(connection) as queries:
            client.get(url)
        sql = sum(float(q["time"]) for q in queries.captured_queries)
        slowest = max((float(q["time"]) for q in queries.captured_queries), default=0.0)
        results.append((label, statistics.median(times), max(times), len(queries), sql, slowest))
    return results


def print_pages(results: list[tuple[str, float, float, int, float, float]], runs: int) -> int:
    print(f"\n{'page':<38} {'median':>9} {'max':>9} {'queries':>8} {'in SQL':>9} {'slowest':>9}   ({runs} runs)")
    slow = 0
    for label, median, worst, n, sql, slowest in results:
        flag = "" if median < TARGET_PAGE_SECONDS else "  SLOW"
        slow += bool(flag)
        print(
            f"{label:<38} {median * 1000:7.1f}ms {worst * 1000:7.1f}ms {n:8d} {sql * 1000:7.1f}ms "
            f"{slowest * 1000:7.1f}ms{flag}"
        )
    print(f"{len(results) - slow}/{len(results)} pages under {TARGET_PAGE_SECONDS * 1000:.0f} ms (median)")
    return slow


def print_sizes() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_size_pretty(pg_database_size(current_database()))")
        print(f"database size: {cursor.fetchone()[0]}")
        cursor.execute(
            "SELECT relname, pg_size_pretty(pg_total_relation_size(c.oid)), c.reltuples::bigint FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind = 'r' "
            "AND relname LIKE 'ingest_%%' ORDER BY pg_total_relation_size(c.oid) DESC LIMIT 10"
        )
        for name, size, rows in cursor.fetchall():
            print(f"  {name:<32} {size:>10}  ~{max(rows, 0):,} rows")


# --- the import stream ---------------------------------------------------------------------------


class ImportStream(threading.Thread):
    """Small files (``lines`` orders each) registered and imported at ``rate`` per second; the lag of
    each is from its registration to its commit (what the S3-to-row lag is made of in this process)."""

    def __init__(self, folder: Path, rate: float, lines: int, run: str) -> None:
        super().__init__(daemon=True)
        self.folder, self.rate, self.lines, self.run_name = folder, rate, lines, run
        self.stop = threading.Event()
        self.lags: list[float] = []
        self.errors = 0

    def run(self) -> None:
        from django.db import connections

        from ingest.services.importing.run import import_file
        from ingest.services.intake.registration import register_local_file
        from ingest.testing.samples import order_events
        from transforms.system_one.writer import write_record

        try:
            n = 0
            next_at = time.monotonic()
            while not self.stop.is_set():
                path = self.folder / "orders" / f"{self.run_name}-{n:06d}.txt"
                path.parent.mkdir(parents=True, exist_ok=True)
                events = order_events(self.lines, start=n * self.lines, run=self.run_name)
                path.write_text("".join(write_record(e) for e in events))
                started = time.monotonic()
                try:
                    f, _ = register_local_file(path, registered_by="bench")
                    import_file(f.pk, trigger="bench")
                    self.lags.append(time.monotonic() - started)
                except Exception:
                    self.errors += 1
                n += 1
                next_at += 1 / self.rate
                self.stop.wait(max(0.0, next_at - time.monotonic()))
        finally:
            connections.close_all()

    def summary(self) -> tuple[int, float | None, float | None]:
        lags = sorted(self.lags)
        if not lags:
            return 0, None, None
        return len(lags), lags[len(lags) // 2], lags[min(len(lags) - 1, int(len(lags) * 0.99))]


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.0f} ms"


def pages_of(name: str, runs: int) -> int:
    """The pages of a kept benchmark database (migrated first, as a deploy would), nothing built."""
    url = postgres_url()
    if url is None:
        return 2
    setup_django(DATABASE_URL=f"{url.rpartition('/')[0]}/{name}")
    from django.db import connections

    try:
        with connections["default"].cursor() as cursor:
            cursor.execute("ANALYZE")
        print_sizes()
        slow = print_pages(measure_pages(runs), runs)
        print(f"load average: {' '.join(f'{v:.2f}' for v in os.getloadavg())} on {os.cpu_count()} CPUs")
    finally:
        connections.close_all()
    return 1 if slow else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies every count (default 1: 5M/5M/2M)")
    parser.add_argument("--files", type=int, help=f"import files (default {FILES:,} x scale)")
    parser.add_argument("--attempts", type=int, help=f"attempts (default {ATTEMPTS:,} x scale)")
    parser.add_argument("--line-errors", type=int, help=f"line errors (default {LINE_ERRORS:,} x scale)")
    parser.add_argument("--runs", type=int, default=5, help="requests per page (the median is reported)")
    parser.add_argument("--rate", type=float, default=5.0, help="files per second of the import stream")
    parser.add_argument("--lines", type=int, default=20, help="orders per file of the import stream")
    parser.add_argument("--stream-seconds", type=float, default=20.0, help="the baseline stream's duration")
    parser.add_argument("--prune-seconds", type=float, default=120.0, help="prune for at most this long")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    parser.add_argument(
        "--pages-of",
        metavar="DATABASE",
        help="only measure the pages of a database a run kept (--keep): after a change to the admin",
    )
    args = parser.parse_args(argv)
    if args.pages_of:
        return pages_of(args.pages_of, args.runs)
    files = args.files or int(FILES * args.scale)
    attempts = args.attempts or int(ATTEMPTS * args.scale)
    line_errors = args.line_errors or int(LINE_ERRORS * args.scale)

    url = postgres_url()
    if url is None:
        return 2
    bench_url, bench_name = create_bench_database(url, "year_bench")
    print(f"database: {bench_name}; {files:,} files, {attempts:,} attempts, {line_errors:,} line errors")
    setup_django(DATABASE_URL=bench_url, INGEST_PRUNE_PAUSE_SECONDS="0.02")
    from django.db import connections

    from ingest.services.observing import rollup
    from ingest.services.retention import prune as retention

    slow = 0
    try:
        started = time.perf_counter()
        for step, seconds in build(files, attempts, line_errors, now=time.time()).items():
            print(f"  built {step:<26} {seconds:7.1f} s")
        print(f"  built in {time.perf_counter() - started:.1f} s")
        print_sizes()
        # The sweep rolls the hours up as they end: a year's database holds its aggregates.
        t = time.perf_counter()
        hours, days = rollup.rollup()
        print(f"\nrollup of the year: {hours:,} hours, {days:,} days in {time.perf_counter() - t:.1f} s")
        before = measure_pages(args.runs)
        slow += print_pages(before, args.runs)

        with tempfile.TemporaryDirectory() as tmp:
            baseline = ImportStream(Path(tmp), args.rate, args.lines, "base")
            baseline.start()
            time.sleep(args.stream_seconds)
            baseline.stop.set()
            baseline.join()
            during = ImportStream(Path(tmp), args.rate, args.lines, "prune")
            during.start()
            report = retention.prune(budget_seconds=args.prune_seconds)
            during.stop.set()
            during.join()
        print("\npruning (defaults: 30 days for attempts, line errors, outbox; 90 days for files):")
        for line in report.lines():
            print(f"  {line}")
        n0, p50_0, p99_0 = baseline.summary()
        n1, p50_1, p99_1 = during.summary()
        rate = report.total / report.seconds if report.seconds else 0.0
        print(
            f"prune: {rate:,.0f} rows/s; longest transaction (lock held) {report.longest_batch_seconds * 1000:.0f} ms"
        )
        per_kind = ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in report.longest_by_kind.items())
        print(f"longest transaction per kind: {per_kind}")
        print(
            f"import lag, baseline without pruning: {n0} files, p50 {_fmt(p50_0)}, p99 {_fmt(p99_0)}"
            f" ({baseline.errors} errors)"
        )
        print(
            f"import lag while pruning:             {n1} files, p50 {_fmt(p50_1)}, p99 {_fmt(p99_1)}"
            f" ({during.errors} errors)"
        )
        if p50_0 and p50_1:
            print(f"ratio p50 while pruning / baseline: {p50_1 / p50_0:.2f}; p99: {(p99_1 or 0) / (p99_0 or 1):.2f}")
        met = p50_1 is not None and p50_1 <= TARGET_LAG_P50
        print(f"target lag p50 <= {TARGET_LAG_P50 * 1000:.0f} ms while pruning: {'met' if met else 'NOT met'}")

        with connections["default"].cursor() as cursor:
            cursor.execute("ANALYZE")
        print_sizes()
        after = measure_pages(args.runs)
        print("\nafter pruning:")
        slow += print_pages(after, args.runs)
        print(f"load average: {' '.join(f'{v:.2f}' for v in os.getloadavg())} on {os.cpu_count()} CPUs")
    finally:
        connections.close_all()
        if not args.keep:
            drop_bench_database(url, bench_name)
    return 1 if slow else 0


if __name__ == "__main__":
    sys.exit(main())
