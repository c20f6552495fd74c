"""Load benchmark of the importer against a cron importer's per-row ``update_or_create`` loop.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres python -m tests.bench.import_load

Generates order events and their order-line events (200,000 lines by default), writes them
as Firehose-shaped GZIP files of System One records, and imports the same files twice on
PostgreSQL in one run: with the importer (batched, version-guarded upserts in one transaction
per file) and with a baseline that parses the same lines and calls ``update_or_create`` per
row, as a typical cron importer does. Then it imports one file of 1,000,000 lines in a fresh
process and reports that process's peak RSS (and, for comparison, a 100,000-line file's).
The benchmark works in its own database (``<name>_import_bench``), created and dropped here.
"""

from __future__ import annotations

import argparse
import gzip
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from ingest.testing.database import truncate_tables
from tests.bench.database import create_bench_database, drop_bench_database, postgres_url, setup_django

ROOT = Path(__file__).resolve().parents[2]
TARGET_RATE = 25_000
TARGET_RATIO = 20
TARGET_RSS_MB = 250


def _event(stream: str, key: dict, data: dict, version: int = 1) -> dict:
    return {
        "eventId": str(uuid.uuid4()),
        "stream": stream,
        "eventType": "upsert",
        "occurredAt": "2026-11-27T10:15:30.123Z",
        "version": version,
        "key": key,
        "data": {**data, **key},
    }


def _order(i: int) -> dict:
    return _event(
        "orders",
        {"orderNumber": f"SO-{i:07d}"},
        {
            "customerNumber": f"C-{i % 5000:05d}",
            "orderDate": "2026-11-20",
            "status": "IN_PRODUCTION",
            "currency": "USD",
            "subtotal": "1250.0000",
            "tax": "87.5000",
            "shipping": "12.50",
            "total": "1350.0000",
            "poNumber": f"PO-{i}",
            "requestedShipDate": None,
            "rush": i % 7 == 0,
        },
    )


def _line(i: int, lines_per_order: int) -> dict:
    order, line = divmod(i, lines_per_order)
    return _event(
        "order-lines",
        {"orderNumber": f"SO-{order:07d}", "lineNumber": line + 1},
        {
            "sku": f"JRN-{i % 977}",
            "description": "A5 linen journal, gold foil deboss | dotted, 192 pages",
            "quantity": 25 + i % 100,
            "unitPrice": "12.5000",
            "extendedPrice": "312.5000",
            "imprintMethod": "FOIL",
            "imprintColors": ["GOLD", "PMS 186"],
        },
    )


def write_file(path: Path, events) -> int:
    from transforms.system_one.writer import write_record

    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with gzip.open(path, "wt", encoding="utf-8", newline="", compresslevel=1) as out:
        for event in events:
            out.write(write_record(event))
            n += 1
    return n


def make_files(folder: Path, orders: int, lines_per_order: int, lines_per_file: int) -> tuple[list[Path], int]:
    paths = []
    total = 0
    for start in range(0, orders, lines_per_file):
        path = folder / "orders" / "2026" / "11" / "27" / "10" / f"bench-orders-{start:08d}.gz"
        total += write_file(path, (_order(i) for i in range(start, min(orders, start + lines_per_file))))
        paths.append(path)
    n_lines = orders * lines_per_order
    for start in range(0, n_lines, lines_per_file):
        path = folder / "order-lines" / "2026" / "11" / "27" / "10" / f"bench-lines-{start:08d}.gz"
        total += write_file(
            path, (_line(i, lines_per_order) for i in range(start, min(n_lines, start + lines_per_file)))
        )
        paths.append(path)
    return paths, total


def run_importer(paths: list[Path]) -> float:
    from ingest.services.importing.run import import_file
    from ingest.services.intake.registration import register_local_file

    truncate_tables()
    start = time.perf_counter()
    for path in paths:
        f, _ = register_local_file(path)
        outcome = import_file(f.pk, trigger="bench")
        assert outcome.status == "imported", outcome
    return time.perf_counter() - start


def run_baseline(paths: list[Path], limit: int | None) -> tuple[float, int]:
    """A cron importer: parse each line, ``update_or_create`` its row, one transaction per file."""
    from django.db import transaction

    from ingest.services.importing.parsing import LineParser
    from transforms.streams import STREAMS
    from transforms.system_one.reader import iter_lines
    from website.models import MODELS_BY_STREAM

    truncate_tables()
    done = 0
    start = time.perf_counter()
    for path in paths:
        stream = path.relative_to(path.parents[5]).parts[0]
        spec = STREAMS[stream]
        model = MODELS_BY_STREAM[stream]
        parser = LineParser(spec)
        key_cols = [f.attname for f in spec.key]
        with transaction.atomic(), gzip.open(path, "rb") as fh:
            for number, raw in iter_lines(fh):
                ev = parser.parse(raw, number)
                assert ev.values is not None
                values = dict(ev.values)
                lookup = {col: values.pop(col) for col in key_cols}
                values.update(source_version=ev.version, source_event_id=ev.event_id, source_occurred_at=ev.occurred_at)
                model.objects.update_or_create(**lookup, defaults=values)
                done += 1
                if limit and done >= limit:
                    return time.perf_counter() - start, done
    return time.perf_counter() - start, done


def peak_rss_of_import(path: Path) -> tuple[float, float, float]:
    """Import ``path`` in a fresh process; returns (its peak RSS in MB, its parse process's (0 for
    none; pages it shares with the importer, as forked, count in both), its records/s)."""
    code = (
        "import os, sys, time, resource, django; django.setup();"
        "from pathlib import Path;"
        "from ingest.services.intake.registration import register_local_file;"
        "from ingest.services.importing.run import import_file;"
        "f, _ = register_local_file(Path(sys.argv[1]));"
        "t = time.perf_counter(); o = import_file(f.pk, trigger='bench'); dt = time.perf_counter() - t;"
        "assert o.status == 'imported', o;"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,"
        " resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, o.counts['lines_total'] / dt)"
    )
    truncate_tables()
    out = subprocess.run(
        [sys.executable, "-c", code, str(path)],
        cwd=ROOT,
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-3000:])
    rss, child_rss, rate = out.stdout.split()[-3:]
    return float(rss), float(child_rss), float(rate)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=20_000)
    parser.add_argument("--lines-per-order", type=int, default=10)
    parser.add_argument("--lines-per-file", type=int, default=20_000)
    parser.add_argument("--big-file-lines", type=int, default=1_000_000)
    parser.add_argument("--baseline-limit", type=int, default=0, help="stop the baseline after N records (0: all)")
    args = parser.parse_args()

    url = postgres_url()
    if url is None:
        return 2
    bench_url, bench_name = create_bench_database(url, "import_bench")
    setup_django(DATABASE_URL=bench_url)
    from django.db import connections

    try:
        with tempfile.TemporaryDirectory() as folder:
            t = time.perf_counter()
            paths, records = make_files(Path(folder), args.orders, args.lines_per_order, args.lines_per_file)
            print(f"generated {records:,} events in {len(paths)} files ({time.perf_counter() - t:.1f} s)")

            ours = run_importer(paths)
            our_rate = records / ours
            print(f"importer : {records:,} records in {ours:.2f} s = {our_rate:,.0f} records/s")

            base_time, base_records = run_baseline(paths, args.baseline_limit or None)
            base_rate = base_records / base_time
            print(
                f"baseline : {base_records:,} records in {base_time:.2f} s = {base_rate:,.0f} records/s"
                " (update_or_create per row)"
            )
            print(f"ratio    : {our_rate / base_rate:.1f}x the baseline")

            small = Path(folder) / "order-lines" / "2026" / "11" / "27" / "11" / "bench-small.gz"
            write_file(small, (_line(i, 10) for i in range(100_000)))
            big = Path(folder) / "order-lines" / "2026" / "11" / "27" / "12" / "bench-big.gz"
            t = time.perf_counter()
            write_file(big, (_line(i, 10) for i in range(args.big_file_lines)))
            size_mb = big.stat().st_size / 1e6
            elapsed = time.perf_counter() - t
            print(f"wrote a {args.big_file_lines:,}-line file ({size_mb:.1f} MB gzip) in {elapsed:.1f} s")
            connections.close_all()
            small_rss, small_child, _ = peak_rss_of_import(small)
            big_rss, big_child, big_rate = peak_rss_of_import(big)
            print(
                f"peak RSS : {big_rss:.0f} MB importing {args.big_file_lines:,} lines ({big_rate:,.0f} records/s),"
                f" its parse process {big_child:.0f} MB; {small_rss:.0f} MB and {small_child:.0f} MB for 100,000 lines"
            )
            big_ok = max(big_rss, big_child) < TARGET_RSS_MB
            ok = our_rate >= TARGET_RATE and our_rate / base_rate >= TARGET_RATIO and big_ok
            print(
                f"targets  : >= {TARGET_RATE:,} records/s, >= {TARGET_RATIO}x baseline, peak RSS < {TARGET_RSS_MB} MB:"
                f" {'met' if ok else 'NOT met'}"
            )
            print(f"(this process: peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB)")
    finally:
        connections.close_all()
        drop_bench_database(url, bench_name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
