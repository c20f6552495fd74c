"""Lag benchmark of the whole path, put_object to committed rows, against the cron sweep it replaces.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres python -m tests.bench.pipeline_lag

Runs the real pipeline on this machine: moto (S3 with bucket notifications to SQS), a private
redis-server, ``manage.py consume_events`` and a Celery worker (prefork) with one and then two
worker processes, on PostgreSQL in a database of its own (``<name>_pipeline_bench``, created and
dropped here). For each worker count it puts Firehose-shaped files (GZIP'd System One order
lines) at a steady rate, then as one burst, and reports:

- the lag of each file from just before its ``put_object`` to its committed rows
  (``ImportFile.finished_at``, stamped inside the import's transaction), p50/p95/p99;
- files/s: files over the time from the first put to the last commit;
- where the time goes: the median of each step of the timeline (S3 event, received by the
  consumer, enqueued, started by a worker, finished);
- beside it, the cron-style baseline computed from the same arrival times: a sweep every 60 s
  (at every phase of the minute) imports what arrived since the last one, one file after the
  other, each taking the import time measured here. Its lag is the wait for the next tick plus
  the imports queued ahead in that sweep.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from tests.bench.database import create_bench_database, drop_bench_database, postgres_url

ROOT = Path(__file__).resolve().parents[2]
TARGET_P50 = 1.0
TARGET_P99 = 3.0


@dataclass
class Run:
    label: str
    workers: int
    lags: list[float]
    files_per_second: float
    stages: dict[str, float]
    arrivals: list[float]  # seconds since the epoch, as put
    durations: list[float]  # the import time of each file, same order


def cron_baseline(
    arrivals: list[float], durations: list[float], interval: float = 60.0, phases: int = 60
) -> list[float]:
    """Lags of a sweep every ``interval`` seconds over the same arrivals, at ``phases`` phases of the interval."""
    order = sorted(range(len(arrivals)), key=lambda i: arrivals[i])
    start = arrivals[order[0]]
    lags: list[float] = []
    for p in range(phases):
        offset = start + interval * p / phases
        busy_until = float("-inf")
        for i in order:
            # the first tick at or after the arrival
            ticks = max(0, -(-(arrivals[i] - offset) // interval))
            tick = offset + ticks * interval
            begin = max(tick, busy_until)
            busy_until = begin + durations[i]
            lags.append(busy_until - arrivals[i])
    return lags


def _measure(label: str, workers: int, files: int, lines: int, rate: float, put, wait_done) -> Run:
    from ingest.models import ImportFile
    from ingest.services.observing.percentiles import percentile
    from ingest.testing.samples import firehose_body, firehose_key, order_events

    run_id = uuid.uuid4().hex[:6]
    bodies = [firehose_body(order_events(lines, start=n * lines, run=run_id)) for n in range(files)]
    keys = [firehose_key("orders", name=f"bench-{label}") for _ in range(files)]
    put_at: dict[str, float] = {}
    first = time.time()
    for n, (key, body) in enumerate(zip(keys, bodies, strict=True)):
        if rate > 0:
            delay = first + n / rate - time.time()
            if delay > 0:
                time.sleep(delay)
        put_at[key] = time.time()
        put(key, body)
    done = wait_done(keys)
    by_key = {f.key: f for f in ImportFile.objects.filter(key__in=keys)}
    assert len(done) == files and all(f.status == "imported" for f in by_key.values()), "not every file imported"

    def at(when: datetime | None) -> float:
        assert when is not None, "an imported file has every one of its times"
        return when.timestamp()

    lags = [at(by_key[k].finished_at) - put_at[k] for k in keys]
    last = max(at(f.finished_at) for f in by_key.values())

    def median_of(pairs: Iterable[tuple[float, datetime | None]]) -> float:
        values = sorted(at(b) - a for a, b in pairs)
        return percentile(values, 50) or 0.0

    stages = {
        "put->s3 event": median_of((put_at[k], by_key[k].s3_event_time) for k in keys),
        "->received": median_of((at(by_key[k].s3_event_time), by_key[k].received_at) for k in keys),
        "->enqueued": median_of((at(by_key[k].received_at), by_key[k].enqueued_at) for k in keys),
        "->started": median_of((at(by_key[k].enqueued_at), by_key[k].started_at) for k in keys),
        "->committed": median_of((at(by_key[k].started_at), by_key[k].finished_at) for k in keys),
    }
    return Run(
        label=label,
        workers=workers,
        lags=lags,
        files_per_second=files / (last - first),
        stages=stages,
        arrivals=[put_at[k] for k in keys],
        durations=[by_key[k].duration_seconds or 0.0 for k in keys],
    )


def _fmt(stats: dict) -> str:
    return f"p50 {stats['p50']:7.3f} s  p95 {stats['p95']:7.3f} s  p99 {stats['p99']:7.3f} s  max {stats['max']:7.3f} s"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=200, help="files per phase (at least 200 for the report)")
    parser.add_argument("--lines", type=int, default=50, help="order lines per file")
    # Firehose writes at most one object per delivery stream per buffer interval (60 s by default) or
    # per 1-128 MB buffered: nine streams make ~0.15 files/s. The steady phase runs 30x that.
    parser.add_argument("--rate", type=float, default=5.0, help="files per second in the steady phase")
    parser.add_argument("--workers", default="1,2", help="worker process counts to run, comma-separated")
    parser.add_argument("--cron-interval", type=float, default=60.0)
    parser.add_argument("--keep-logs", help="a folder to keep the processes' logs in")
    args = parser.parse_args()

    url = postgres_url()
    if url is None:
        return 2
    bench_url, bench_name = create_bench_database(url, "pipeline_bench")
    os.environ["DATABASE_URL"] = bench_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "website.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    for name, value in (("AWS_ACCESS_KEY_ID", "bench"), ("AWS_SECRET_ACCESS_KEY", "bench")):
        os.environ.setdefault(name, value)
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    sys.path.insert(0, str(ROOT))
    import tempfile

    import django
    import redis as redis_lib
    import requests

    django.setup()
    from django.core.management import call_command
    from django.db import connections

    from ingest.models import ImportFile
    from ingest.services.observing.percentiles import summarize
    from ingest.testing.aws import aws_clients, create_bucket_and_queue, moto_server
    from ingest.testing.database import truncate_tables
    from ingest.testing.processes import child_env, start_consumer, start_redis, start_worker
    from ingest.testing.utilities import free_port, wait_until

    call_command("migrate", verbosity=0)
    log_dir = Path(args.keep_logs or tempfile.mkdtemp(prefix="pipeline-bench-"))
    redis_port = free_port()
    moto = contextlib.ExitStack()
    endpoint = moto.enter_context(moto_server())
    broker_url = f"redis://127.0.0.1:{redis_port}/0"
    redis_server = start_redis(redis_port, log_dir)
    runs: list[Run] = []
    try:
        for workers in [int(w) for w in args.workers.split(",")]:
            truncate_tables()
            requests.post(f"{endpoint}/moto-api/reset", timeout=10)
            redis_lib.Redis.from_url(broker_url).flushdb()
            s3, sqs = aws_clients(endpoint)
            bucket = f"bench-{uuid.uuid4().hex[:8]}"
            queue_url = create_bucket_and_queue(s3, sqs, bucket, f"bench-{workers}")
            env = child_env(
                database_url=bench_url,
                broker_url=broker_url,
                aws_endpoint=endpoint,
                bucket=bucket,
                queue_url=queue_url,
                LOG_LEVEL="WARNING",
            )
            worker = start_worker(env | {"LOG_LEVEL": "INFO"}, log_dir, concurrency=workers, name=f"bench-w{workers}")
            consumer = start_consumer(
                env, log_dir, "--wait-time", "20", "--sweep-interval", "30", name="bench-consumer"
            )
            try:

                def put(key: str, body: bytes, s3=s3, bucket=bucket) -> None:
                    s3.put_object(Bucket=bucket, Key=key, Body=body)

                def wait_done(keys: list[str]) -> list:
                    def finished():
                        n = ImportFile.objects.filter(key__in=keys, status="imported").count()
                        return n == len(keys)

                    wait_until(finished, 600, 0.05, f"{len(keys)} files imported")
                    return keys

                # Warm-up: the first import of each pool process opens its connections.
                _measure("warmup", workers, 2 * workers, args.lines, 0, put, wait_done)
                runs.append(
                    _measure(f"steady {args.rate:g}/s", workers, args.files, args.lines, args.rate, put, wait_done)
                )
                runs.append(_measure("burst", workers, args.files, args.lines, 0, put, wait_done))
            finally:
                consumer.stop()
                worker.stop()
    finally:
        connections.close_all()
        redis_server.stop()
        moto.close()
        drop_bench_database(url, bench_name)

    print(f"\npipeline lag, put_object -> committed rows ({args.files} files x {args.lines} order lines per phase)")
    ok = True
    for run in runs:
        stats = summarize(run.lags)
        print(
            f"  {run.workers} worker process(es), {run.label:12s}: {_fmt(stats)}  {run.files_per_second:6.1f} files/s"
        )
        print("      median steps: " + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in run.stages.items()))
        if run.label.startswith("steady"):
            p50, p99 = stats["p50"], stats["p99"]
            ok = ok and p50 is not None and p99 is not None and p50 < TARGET_P50 and p99 < TARGET_P99
    for run in runs:
        if run.label.startswith("steady"):
            cron = summarize(cron_baseline(run.arrivals, run.durations, args.cron_interval))
            print(
                f"  cron sweep every {args.cron_interval:g} s, same arrivals, {run.workers}-worker import times: "
                f"{_fmt(cron)}"
            )
    print(f"targets (steady): p50 < {TARGET_P50:g} s, p99 < {TARGET_P99:g} s: {'met' if ok else 'NOT met'}")
    print(f"(logs in {log_dir}; run at {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} CPUs)")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
