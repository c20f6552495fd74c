"""Fixtures of the chaos tests: a private PostgreSQL cluster and a private Redis that the tests may
crash, fault proxies between the processes and moto, and the e2e harness's processes on top.

The test process talks to the private cluster through Django's ``default`` connection, repointed
for the duration of one test (and put back afterwards), so the ORM, the oracle and the e2e
helpers work unchanged; the worker and consumer processes get its URL in ``DATABASE_URL``.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from ingest.testing.aws import aws_clients, create_bucket_and_queue, drain_test_events
from ingest.testing.database import truncate_tables
from ingest.testing.pipeline import Pipeline
from ingest.testing.processes import ManagedProcess
from ingest.testing.utilities import free_port
from tests.chaos import postgres
from tests.chaos.faultproxy import FaultProxy

CHAOS_DATABASE = "ingest_chaos_private"


@contextlib.contextmanager
def database_at(url: str) -> Iterator[None]:
    """Django's ``default`` connection (in every thread) on the database at ``url`` for a while.

    ``connections.settings`` is the very dict of ``settings.DATABASES``, shared by the connection
    objects of all threads: changing it in place and closing the connections moves them all."""
    import dj_database_url
    from django.db import connections

    target = dj_database_url.parse(url)
    wanted = {k: target[k] for k in ("NAME", "USER", "PASSWORD", "HOST", "PORT")}
    current = connections.settings["default"]
    saved = {k: current.get(k) for k in wanted}
    connections.close_all()
    current.update(wanted)
    try:
        yield
    finally:
        connections.close_all()
        current.update(saved)


def _require_postgres() -> None:
    from django.conf import settings

    if settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1] != "postgresql":
        pytest.skip("the chaos tests run on PostgreSQL (DATABASE_URL=postgres://...)")
    why = postgres.available()
    if why:
        pytest.skip(why)


@pytest.fixture(scope="session")
def private_postgres(django_db_blocker) -> Iterator[postgres.PrivatePostgres]:
    """A private cluster for the session with the project's schema migrated into one database."""
    from django.core.management import call_command

    _require_postgres()
    cluster = postgres.PrivatePostgres().init()
    try:
        cluster.start()
        cluster.create_database(CHAOS_DATABASE)
        with django_db_blocker.unblock(), database_at(cluster.url):
            call_command("migrate", verbosity=0, interactive=False)
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture
def chaos_db(private_postgres, django_db_blocker) -> Iterator[str]:
    """The private database, emptied, as this test's ``default``; yields its URL."""
    with django_db_blocker.unblock(), database_at(private_postgres.url):
        if not private_postgres.accepts():  # a test before this one left it down
            private_postgres.start()
        truncate_tables()
        yield private_postgres.url


class ChaosPipeline(Pipeline):
    """The e2e pipeline with the workers' S3 and the consumer's SQS behind fault proxies."""

    def __init__(self, *, s3_proxy: FaultProxy, sqs_proxy: FaultProxy, postgres: postgres.PrivatePostgres, **kw):
        super().__init__(**kw)
        self.s3_proxy = s3_proxy
        self.sqs_proxy = sqs_proxy
        self.postgres = postgres
        self.redis: ManagedProcess | None = None
        # What every worker and consumer of this pipeline starts with, unless a call says otherwise.
        self.worker_env: dict[str, str] = {}
        self.consumer_args: tuple[str, ...] = ()

    def start_worker(self, concurrency: int = 1, **extra_env: str):
        env = {"AWS_ENDPOINT_URL": self.s3_proxy.url, **self.worker_env, **extra_env}
        return super().start_worker(concurrency, **env)

    def start_consumer(self, *args: str, **extra_env: str):
        return super().start_consumer(*(args or self.consumer_args), AWS_ENDPOINT_URL=self.sqs_proxy.url, **extra_env)

    def start_private_redis(self):
        port = int(self.broker_url.rsplit(":", 1)[1].split("/")[0])
        self.redis = self.start_redis(port)
        return self.redis


@pytest.fixture
def chaos_pipeline(chaos_db, aws, private_postgres, settings, tmp_path) -> Iterator[ChaosPipeline]:
    """moto (bucket + queue + notifications), a private Redis (started), the private database, and
    two fault proxies in front of moto (both passing); processes are started by the test."""
    s3, sqs = aws_clients(aws)
    bucket = settings.INGEST_BUCKET
    queue_url = create_bucket_and_queue(s3, sqs, bucket, f"ingest-chaos-{uuid.uuid4().hex[:8]}")
    drain_test_events(sqs, queue_url)
    settings.INGEST_QUEUE_URL = queue_url
    with FaultProxy(aws) as s3_proxy, FaultProxy(aws) as sqs_proxy:
        p = ChaosPipeline(
            s3_proxy=s3_proxy,
            sqs_proxy=sqs_proxy,
            postgres=private_postgres,
            endpoint=aws,
            bucket=bucket,
            queue_url=queue_url,
            broker_url=f"redis://127.0.0.1:{free_port()}/0",
            db_url=chaos_db,
            log_dir=Path(tmp_path) / "logs",
        )
        p.start_private_redis()
        try:
            yield p
        finally:
            p.stop_all()
