"""Where a small file's time goes: `reimport --sync` under cProfile, with the round trips of one import.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/ingest_smallfiles python -m tests.bench.small_files_profile

Puts the files into moto (a process of its own) as tests/bench/small_files.py does, lists every
statement and transaction command one reset and one import send to PostgreSQL, then profiles
`reimport --sync` over all of them: wall and CPU time per file, and the profile's top entries.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import tempfile
import time
import uuid
from contextlib import redirect_stdout
from pathlib import Path

from tests.bench.database import create_bench_database, drop_bench_database, postgres_url, setup_django
from tests.bench.small_files import _empty_website_tables, _lines, _start_moto


def _round_trips(action) -> list[str]:
    """What ``action`` sends to PostgreSQL: each statement, and each BEGIN/COMMIT psycopg sends itself."""
    from unittest import mock

    import psycopg
    from psycopg import _connection_base

    seen: list[str] = []
    execute, command = psycopg.Cursor.execute, _connection_base.BaseConnection._exec_command

    def counted_execute(self, query, *args, **kwargs):
        seen.append(" ".join(str(query).split())[:110])
        return execute(self, query, *args, **kwargs)

    def counted_command(self, cmd, *args, **kwargs):
        seen.append(bytes(cmd).decode() if isinstance(cmd, bytes) else str(cmd))
        return (yield from command(self, cmd, *args, **kwargs))

    with (
        mock.patch.object(psycopg.Cursor, "execute", counted_execute),
        mock.patch.object(_connection_base.BaseConnection, "_exec_command", counted_command),
    ):
        action()
    return seen


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=300)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    url = postgres_url()
    if url is None:
        return 2
    bench_url, bench_name = create_bench_database(url, "small_files_profile")
    from ingest.testing.utilities import free_port

    port = free_port()
    endpoint, bucket = f"http://127.0.0.1:{port}", f"prof-{uuid.uuid4().hex[:8]}"
    setup_django(
        DATABASE_URL=bench_url,
        AWS_ENDPOINT_URL=endpoint,
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_DEFAULT_REGION="us-east-1",
        INGEST_BUCKET=bucket,
    )
    from django.core.management import call_command
    from django.db import connections

    from ingest.models import ImportFile
    from ingest.services.importing import lifecycle
    from ingest.services.importing.run import import_file
    from ingest.services.intake.registration import S3Object, register_s3_object
    from ingest.testing.aws import aws_clients
    from ingest.testing.samples import firehose_body

    moto = _start_moto(port, Path(tempfile.mkdtemp(prefix="small-files-profile-")))
    try:
        s3, _sqs = aws_clients(endpoint)
        s3.create_bucket(Bucket=bucket)
        run = uuid.uuid4().hex[:4]
        for n in range(args.files):
            key = f"order-lines/2026/11/27/10/bench-small-1-2026-11-27-10-00-00-{n:06d}"
            put = s3.put_object(Bucket=bucket, Key=key, Body=firehose_body(_lines(n, 50, run)))
            register_s3_object(S3Object(bucket=bucket, key=key, etag=put["ETag"].strip('"')), registered_by="bench")
        first = ImportFile.objects.order_by("pk").values_list("pk", flat=True)[0]

        def one() -> None:
            lifecycle.reset_for_reimport(first, enqueue=False, stream="order-lines")
            import_file(first, trigger="reimport")

        trips = _round_trips(one)
        print(f"round trips to PostgreSQL for one reset and one import: {len(trips)}")
        for trip in trips:
            print(f"    {trip}")

        _empty_website_tables()
        profile = cProfile.Profile()
        wall, cpu = time.perf_counter(), time.process_time()
        profile.enable()
        with redirect_stdout(io.StringIO()):
            call_command("reimport", "--stream", "order-lines", "--sync")
        profile.disable()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        for order in ("cumulative", "tottime"):
            out = io.StringIO()
            pstats.Stats(profile, stream=out).sort_stats(order).print_stats(args.top)
            print(out.getvalue())
        load = os.getloadavg()
        print(
            f"reimport --sync: {args.files / wall:.1f} files/s, {1000 * wall / args.files:.1f} ms a file"
            f" ({1000 * cpu / args.files:.1f} ms CPU) under cProfile; load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
        )
    finally:
        connections.close_all()
        moto.stop()
        drop_bench_database(url, bench_name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
