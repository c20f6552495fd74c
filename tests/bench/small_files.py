"""A backfill of many small files: files/s per worker, next to moto's own GET rate in the same run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres python -m tests.bench.small_files

Puts 2,000 Firehose-shaped GZIP files of 50 order lines each into a moto S3 bucket (moto runs
in a process of its own, so that it does not share this one's interpreter), registers them,
and imports them all:

- ``manage.py reimport --sync --stream order-lines`` (this process, one file after the other);
- ``manage.py reimport --stream order-lines`` through a Celery worker (prefork) with one and
  then two worker processes, on a private redis-server, timed from the first enqueue to the
  last commit.

Before each run the website tables are emptied, so every run writes the same new rows. Beside
the figures it measures moto's own rate: GET and read of every object, one after the other,
from one client (what one worker's S3 reads can reach at most). Targets: >= 150 files/s per
worker where moto allows, and two workers >= 1.7x one.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
import uuid
from contextlib import redirect_stdout
from pathlib import Path

from tests.bench.database import create_bench_database, drop_bench_database, postgres_url, setup_django

TARGET_PER_WORKER = 150
TARGET_SCALING = 1.7


def _lines(file_number: int, lines: int, run: str) -> list[dict]:
    from tests.bench.import_ceiling import _line

    events = []
    for i in range(lines):
        event = _line(file_number * lines + i, 10, 1)
        # Every file its own orders: a backfill of distinct entities.
        event["key"]["orderNumber"] = event["data"]["orderNumber"] = f"SO-{run}{file_number:06d}-{i // 10:02d}"
        events.append(event)
    return events


def _empty_website_tables() -> None:
    from django.apps import apps
    from django.db import connection

    tables = [m._meta.db_table for m in apps.get_app_config("website").get_models()]
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE " + ", ".join(f'"{t}"' for t in tables))


def _start_moto(port: int, log_dir: Path):
    from ingest.testing.processes import ManagedProcess
    from ingest.testing.utilities import wait_until

    argv = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    moto = ManagedProcess(f"moto-{port}", argv, dict(os.environ), log_dir / f"moto-{port}.log")
    import requests

    def answers() -> bool:
        try:
            return requests.get(f"http://127.0.0.1:{port}/moto-api/", timeout=1).status_code < 500
        except requests.RequestException:
            return False

    wait_until(answers, 30, 0.1, "moto to answer")
    return moto


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--lines", type=int, default=50)
    parser.add_argument("--workers", default="1,2", help="worker process counts to run, comma-separated")
    args = parser.parse_args()

    url = postgres_url()
    if url is None:
        return 2
    bench_url, bench_name = create_bench_database(url, "small_files_bench")
    log_dir = Path(tempfile.mkdtemp(prefix="small-files-bench-"))
    from ingest.testing.utilities import free_port

    moto_port, redis_port = free_port(), free_port()
    endpoint = f"http://127.0.0.1:{moto_port}"
    bucket = f"bench-{uuid.uuid4().hex[:8]}"
    setup_django(
        DATABASE_URL=bench_url,
        DATABASE_CONN_MAX_AGE="600",
        AWS_ENDPOINT_URL=endpoint,
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_DEFAULT_REGION="us-east-1",
        INGEST_BUCKET=bucket,
        CELERY_BROKER_URL=f"redis://127.0.0.1:{redis_port}/0",
    )
    import redis as redis_lib
    from django.core.management import call_command
    from django.db import connections

    from ingest.models import ImportFile
    from ingest.services.intake.registration import S3Object, register_s3_object
    from ingest.testing.aws import aws_clients
    from ingest.testing.processes import child_env, start_redis, start_worker
    from ingest.testing.samples import firehose_body
    from ingest.testing.utilities import wait_until

    moto = _start_moto(moto_port, log_dir)
    redis_server = start_redis(redis_port, log_dir)
    broker_url = f"redis://127.0.0.1:{redis_port}/0"
    results: list[tuple[str, int, float]] = []
    try:
        s3, _sqs = aws_clients(endpoint)
        s3.create_bucket(Bucket=bucket)
        run = uuid.uuid4().hex[:4]
        keys = [f"order-lines/2026/11/27/10/bench-small-1-2026-11-27-10-00-00-{n:06d}" for n in range(args.files)]
        t = time.perf_counter()
        for n, key in enumerate(keys):
            put = s3.put_object(Bucket=bucket, Key=key, Body=firehose_body(_lines(n, args.lines, run)))
            register_s3_object(S3Object(bucket=bucket, key=key, etag=put["ETag"].strip('"')), registered_by="bench")
        print(f"put and registered {args.files:,} files of {args.lines} order lines ({time.perf_counter() - t:.1f} s)")

        t = time.perf_counter()
        for key in keys:
            s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        moto_rate = args.files / (time.perf_counter() - t)
        print(f"moto: {moto_rate:,.0f} GET/s (GET + read of each object, one client, one after the other)")

        def all_imported() -> bool:
            return ImportFile.objects.filter(status="imported").count() == args.files

        _empty_website_tables()
        t = time.perf_counter()
        with redirect_stdout(io.StringIO()):
            call_command("reimport", "--stream", "order-lines", "--sync")
        elapsed = time.perf_counter() - t
        assert all_imported(), "reimport --sync left files unimported"
        results.append(("reimport --sync", 1, args.files / elapsed))

        env = child_env(
            database_url=bench_url,
            broker_url=broker_url,
            aws_endpoint=endpoint,
            bucket=bucket,
            queue_url="",
            LOG_LEVEL="WARNING",
        )
        for workers in [int(w) for w in args.workers.split(",")]:
            redis_lib.Redis.from_url(broker_url).flushdb()
            worker = start_worker(env, log_dir, concurrency=workers, name=f"small-w{workers}")
            try:
                _empty_website_tables()
                t = time.perf_counter()
                with redirect_stdout(io.StringIO()):
                    call_command("reimport", "--stream", "order-lines")
                enqueued = time.perf_counter() - t
                wait_until(all_imported, 1200, 0.05, f"{args.files} files imported")
                elapsed = time.perf_counter() - t
                print(
                    f"{workers} worker(s): reimport enqueued {args.files:,} files in {enqueued:.1f} s,"
                    f" all imported after {elapsed:.1f} s"
                )
                results.append(("celery worker", workers, args.files / elapsed))
            finally:
                worker.stop()
    finally:
        connections.close_all()
        redis_server.stop()
        moto.stop()
        drop_bench_database(url, bench_name)

    load = os.getloadavg()
    print(f"\n{args.files:,} files x {args.lines} order lines, moto S3 at {moto_rate:,.0f} GET/s (one client)")
    for label, workers, rate in results:
        print(f"  {label:<16} {workers} worker(s): {rate:7.1f} files/s = {rate / workers:6.1f} files/s per worker")
    celery = {w: r for label, w, r in results if label == "celery worker"}
    if 1 in celery and 2 in celery:
        print(f"  2 workers / 1 worker: {celery[2] / celery[1]:.2f}x")
    per_worker = min(rate / workers for _label, workers, rate in results)
    ok = per_worker >= min(TARGET_PER_WORKER, moto_rate) and (
        not (1 in celery and 2 in celery) or celery[2] / celery[1] >= TARGET_SCALING
    )
    print(
        f"targets: >= {TARGET_PER_WORKER} files/s per worker (or moto's rate), 2 workers >= {TARGET_SCALING}x one:"
        f" {'met' if ok else 'NOT met'} (load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; logs in {log_dir})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
