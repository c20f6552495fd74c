"""A backfill of many small files: files/s per worker, next to moto's own GET rate in the same run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres python -m tests.bench.small_files

Puts 10,000 Firehose-shaped GZIP files of 50 order lines each into a moto S3 bucket (moto runs
in a process of its own, so that it does not share this one's interpreter), registers them
(with their size, as a notification does), and imports them all:

- ``manage.py reimport --sync --stream order-lines`` (this process, one file after the other);
- ``manage.py reimport --stream order-lines`` through a Celery worker (prefork) with one and
  then two worker processes, on a private redis-server, timed from the first enqueue to the
  last commit; each worker imports up to ``INGEST_IMPORT_BATCH_FILES`` ready files in one
  transaction (``--batch-files``, a list: ``1,20`` runs the workers one file per transaction as
  the baseline too).

Before each run the website tables are emptied, so every run writes the same new rows. Beside
the figures it measures moto's own rate at the same concurrency: GET and read of every object,
one after the other, from one client and from two clients at once (threads, each its own
client: what one and two workers' S3 reads can reach at most). Target (issue 20): two workers
>= 280 files/s (a million files an hour), or >= 0.8x moto's own GET rate with two clients if that
is lower.
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

TARGET_TWO_WORKERS = 280.0
TARGET_OF_MOTO = 0.8


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


def _moto_get_rate(
    endpoint: str, bucket: str, keys: list[str], clients: int, moto_pid: int
) -> tuple[float, float, float]:
    """GET + read of every object, by ``clients`` clients at once (threads, each its own client):
    GET/s, and the CPU milliseconds a GET costs the client (boto3; this process does nothing else
    meanwhile) and moto's server."""
    import threading

    import psutil

    from ingest.testing.aws import aws_clients

    shares = [keys[n::clients] for n in range(clients)]
    s3s = [aws_clients(endpoint)[0] for _ in range(clients)]

    def read(s3, share: list[str]) -> None:
        for key in share:
            s3.get_object(Bucket=bucket, Key=key)["Body"].read()

    threads = [threading.Thread(target=read, args=(s3s[n], shares[n])) for n in range(clients)]
    server = psutil.Process(moto_pid)
    server_cpu, client_cpu, t = sum(server.cpu_times()[:2]), time.process_time(), time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - t
    client_ms = (time.process_time() - client_cpu) * 1000 / len(keys)
    server_ms = (sum(server.cpu_times()[:2]) - server_cpu) * 1000 / len(keys)
    return len(keys) / elapsed, client_ms, server_ms


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
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--lines", type=int, default=50)
    parser.add_argument("--workers", default="1,2", help="worker process counts to run, comma-separated")
    parser.add_argument("--batch-files", default="20", help="INGEST_IMPORT_BATCH_FILES values, comma-separated")
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
            body = firehose_body(_lines(n, args.lines, run))
            put = s3.put_object(Bucket=bucket, Key=key, Body=body)
            obj = S3Object(bucket=bucket, key=key, etag=put["ETag"].strip('"'), size=len(body))
            register_s3_object(obj, registered_by="bench")
        print(f"put and registered {args.files:,} files of {args.lines} order lines ({time.perf_counter() - t:.1f} s)")

        moto_runs = {n: _moto_get_rate(endpoint, bucket, keys, n, moto.pid) for n in (1, 2)}
        moto_rates = {n: rate for n, (rate, _client, _server) in moto_runs.items()}
        for n, (rate, client_ms, server_ms) in moto_runs.items():
            print(
                f"moto: {rate:,.0f} GET/s with {n} client(s) at once (GET + read of each object);"
                f" CPU a GET: {client_ms:.2f} ms boto3, {server_ms:.2f} ms moto"
            )
        _rate, client_ms, server_ms = moto_runs[2]
        cores = os.cpu_count() or 1
        busy = TARGET_TWO_WORKERS * (client_ms + server_ms) / 1000
        print(f"the GETs alone at {TARGET_TWO_WORKERS:.0f} files/s: {busy:.2f} of this machine's {cores} cores")

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
        runs = [(int(b), int(w)) for b in args.batch_files.split(",") for w in args.workers.split(",")]
        for batch_files, workers in runs:
            redis_lib.Redis.from_url(broker_url).flushdb()
            worker_env = {**env, "INGEST_IMPORT_BATCH_FILES": str(batch_files)}
            worker = start_worker(worker_env, log_dir, concurrency=workers, name=f"small-b{batch_files}-w{workers}")
            try:
                _empty_website_tables()
                t = time.perf_counter()
                with redirect_stdout(io.StringIO()):
                    call_command("reimport", "--stream", "order-lines")
                enqueued = time.perf_counter() - t
                wait_until(all_imported, 1200, 0.05, f"{args.files} files imported")
                elapsed = time.perf_counter() - t
                print(
                    f"{workers} worker(s), {batch_files} file(s) a transaction:"
                    f" reimport enqueued {args.files:,} files in {enqueued:.1f} s,"
                    f" all imported after {elapsed:.1f} s"
                )
                results.append((f"worker, batch {batch_files}", workers, args.files / elapsed))
            finally:
                worker.stop()
    finally:
        connections.close_all()
        redis_server.stop()
        moto.stop()
        drop_bench_database(url, bench_name)

    load = os.getloadavg()
    print(f"\n{args.files:,} files x {args.lines} order lines")
    for n, rate in moto_rates.items():
        print(f"  moto S3 alone      {n} client(s):  {rate:7.1f} GET/s")
    for label, workers, rate in results:
        print(f"  {label:<18} {workers} worker(s): {rate:7.1f} files/s = {rate / workers:6.1f} files/s per worker")
    batched = max((int(b) for b in args.batch_files.split(",")), default=1)
    two = next((rate for label, w, rate in results if label == f"worker, batch {batched}" and w == 2), None)
    if two is not None:
        bound = min(TARGET_TWO_WORKERS, TARGET_OF_MOTO * moto_rates[2])
        verdict = "met" if two >= bound else "NOT met"
        print(
            f"  2 workers, batch {batched}: {two:.1f} files/s = {two / moto_rates[2]:.2f}x moto's GET rate"
            f" with 2 clients; target >= {TARGET_TWO_WORKERS:.0f} files/s or >= {TARGET_OF_MOTO}x moto's: {verdict}"
        )
    print(f"(load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; logs in {log_dir})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
