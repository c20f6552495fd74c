"""Reconciliation of a big complete snapshot, and imports running meanwhile.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres python -m tests.bench.reconcile

In a database of its own: stores N order lines (1,000,000 by default, through the importer), writes a
complete full snapshot of N lines (GZIP JSON Lines, the contract's format) with 1% of each kind of
drift (missing, behind, ahead, differs; and so 1% of the stored rows only on the website), then

(a) ``manage.py reconcile`` without repairs, in a fresh process: wall time, keys/s, peak RSS;
(b) the same with ``--apply --apply-content --apply-deletes``, in a fresh process;
(c) while (a) runs again, small imports (50 order lines each, new keys) at a steady rate in this
    process: their lag (from the moment each file is due to its commit), p50 and p95, against the
    same imports with nothing else running, measured in the same run (the baseline).

Targets: >= 100,000 keys/s, peak RSS < 150 MB, imports' lag p50 <= 0.2 s during a reconciliation.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from tests.bench.database import create_bench_database, drop_bench_database, postgres_url, setup_django
from tests.bench.import_ceiling import _line
from tests.bench.import_load import write_file

ROOT = Path(__file__).resolve().parents[2]
TAKEN = "2026-11-28T00:00:00Z"
LINES_PER_ORDER = 5
TARGET_RATE = 100_000
TARGET_RSS_MB = 150
TARGET_LAG_P50 = 0.2


def stored_events(n: int):
    """The website's rows: every line at version 2."""
    return (_line(i, LINES_PER_ORDER, 2) for i in range(n))


def snapshot_event(i: int, n: int) -> dict:
    """System Two's line for index ``i``: 1% each of missing (another key), behind, ahead, differs."""
    kind = i % 100
    if kind == 0:  # missing: a key the website never got (and line i is only on the website)
        return _line(n + i, LINES_PER_ORDER, 2)
    if kind == 1:
        return _line(i, LINES_PER_ORDER, 3)  # behind
    if kind == 2:
        event = _line(i, LINES_PER_ORDER, 2)
        event["version"] = 1  # ahead
        return event
    event = _line(i, LINES_PER_ORDER, 2)
    if kind == 3:  # differs: the same version, another quantity
        event["data"]["quantity"] += 1000
    return event


def write_snapshot(path: Path, n: int) -> None:
    head = {"snapshot": {"stream": "order-lines", "takenAt": TAKEN, "complete": True, "rows": "full"}}
    with gzip.open(path, "wt", encoding="utf-8", compresslevel=1) as out:
        out.write(json.dumps(head) + "\n")
        for i in range(n):
            event = snapshot_event(i, n)
            # The stored rows came with the eventIds _line drew; System Two gives fresh ones: not content.
            out.write(json.dumps(event) + "\n")


def run_reconcile(path: Path, *flags: str) -> dict:
    """``manage.py reconcile`` in a fresh process: its counts, wall time and peak RSS."""
    code = (
        "import io, json, resource, sys, time, django; django.setup();"
        "from django.core.management import call_command;"
        "out = io.StringIO(); t = time.perf_counter();"
        "call_command('reconcile', sys.argv[1], '--json', *sys.argv[2:], stdout=out);"
        "dt = time.perf_counter() - t;"
        "print(json.dumps({**json.loads(out.getvalue()), 'seconds': dt,"
        " 'rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(path), *flags],
        cwd=ROOT,
        env={**os.environ, "LOG_LEVEL": "WARNING"},
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def small_files(folder: Path, count: int, start: int) -> list[Path]:
    paths = []
    for f in range(count):
        events = []
        for j in range(50):
            event = _line(10_000_000 + (start + f) * 50 + j, LINES_PER_ORDER, 1)
            event["occurredAt"] = "2026-11-29T10:00:00Z"  # after takenAt: never only on the website
            events.append(event)
        path = folder / "order-lines" / "2026" / "11" / "29" / "10" / f"small-{start + f:06d}.gz"
        write_file(path, events)
        paths.append(path)
    return paths


def steady_imports(paths: list[Path], rate: float, stop: threading.Event | None = None) -> list[float]:
    """Import each file when it is due (``rate`` files/s); the lag of each, due -> committed."""
    from django.db import connections

    from ingest.services.importing.run import import_file
    from ingest.services.intake.registration import register_local_file

    lags = []
    start = time.perf_counter()
    try:
        for n, path in enumerate(paths):
            if stop is not None and stop.is_set():
                break
            due = start + n / rate
            time.sleep(max(0.0, due - time.perf_counter()))
            f, _ = register_local_file(path)
            assert import_file(f.pk, trigger="bench").status == "imported"
            lags.append(time.perf_counter() - due)
    finally:
        connections.close_all()
    return lags


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=1_000_000, help="stored rows and snapshot lines")
    parser.add_argument("--rate", type=float, default=5.0, help="small imports per second during (c)")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark's database")
    args = parser.parse_args()
    url = postgres_url()
    if url is None:
        return 2
    bench_url, bench_name = create_bench_database(url, "reconcile")
    try:
        setup_django(DATABASE_URL=bench_url)
        from ingest.services.importing.run import import_file
        from ingest.services.intake.registration import register_local_file

        with tempfile.TemporaryDirectory() as folder:
            tmp = Path(folder)
            n = args.lines
            t = time.perf_counter()
            stored = tmp / "order-lines" / "2026" / "11" / "27" / "10" / "stored.gz"
            write_file(stored, stored_events(n))
            f, _ = register_local_file(stored)
            assert import_file(f.pk, trigger="bench").status == "imported"
            snapshot = tmp / "snapshot-order-lines.jsonl.gz"
            write_snapshot(snapshot, n)
            print(f"setup    : {n:,} rows stored, a snapshot of {n:,} lines written in {time.perf_counter() - t:.0f} s")

            from django.db import connection

            with connection.cursor() as cursor:
                cursor.execute("VACUUM ANALYZE website_orderline")

            # (c) baseline: the small imports with nothing else running.
            baseline = steady_imports(small_files(tmp / "base", 50, 0), args.rate)

            # (a) report only, with the small imports running meanwhile.
            during_files = small_files(tmp / "during", 2000, 100)
            stop = threading.Event()
            lags: list[float] = []
            importer = threading.Thread(target=lambda: lags.extend(steady_imports(during_files, args.rate, stop)))
            importer.start()
            try:
                report = run_reconcile(snapshot)
            finally:
                stop.set()
                importer.join()
            rate = n / report["seconds"]
            counts = {k: report[k] for k in ("in_sync", "missing", "behind", "ahead", "differs", "only_on_website")}
            print(
                f"(a) report      : {report['seconds']:.1f} s, {rate:,.0f} keys/s, peak RSS {report['rss_mb']:.0f} MB"
            )
            print(f"    counts      : {counts}, line errors {report['line_errors']}")
            print(
                f"(c) imports meanwhile: {len(lags)} files of 50 lines at {args.rate}/s,"
                f" lag p50 {percentile(lags, 0.5):.3f} s"
                f" p95 {percentile(lags, 0.95):.3f} s; alone: p50 {percentile(baseline, 0.5):.3f} s"
                f" p95 {percentile(baseline, 0.95):.3f} s ({len(baseline)} files); ratio p50"
                f" {percentile(lags, 0.5) / percentile(baseline, 0.5):.2f}"
            )

            # (b) with every repair.
            repaired = run_reconcile(snapshot, "--apply", "--apply-content", "--apply-deletes")
            print(
                f"(b) all repairs: {repaired['seconds']:.1f} s, {n / repaired['seconds']:,.0f} keys/s,"
                f" peak RSS {repaired['rss_mb']:.0f} MB; repaired {repaired['repaired']},"
                f" content {repaired['content_repaired']}, deletes {repaired['deletes_applied']}"
            )
            again = run_reconcile(snapshot)
            print(
                f"    again (report): in_sync {again['in_sync']:,}, ahead {again['ahead']:,}, drift left "
                f"{sum(again[k] for k in ('missing', 'behind', 'differs', 'only_on_website'))}"
            )
            met = rate >= TARGET_RATE and report["rss_mb"] < TARGET_RSS_MB and percentile(lags, 0.5) <= TARGET_LAG_P50
            print(
                f"targets : >= {TARGET_RATE:,} keys/s, peak RSS < {TARGET_RSS_MB} MB, lag p50 <= {TARGET_LAG_P50} s:"
                f" {'met' if met else 'NOT met'}"
            )
            print(f"load    : {os.getloadavg()}; median baseline lag {statistics.median(baseline):.3f} s")
    finally:
        if not args.keep:
            from django.db import connections

            connections.close_all()
            drop_bench_database(url, bench_name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
