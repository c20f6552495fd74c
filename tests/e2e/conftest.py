"""Fixtures of the end-to-end tests: moto (S3 + SQS with real bucket notifications), a real Redis
broker, real Celery worker processes and the consumer, all on the pytest-django test database
(PostgreSQL; data committed by ``transactional_db`` so that the child processes see it)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.pipeline import (
    ManagedProcess,
    aws_clients,
    child_env,
    create_bucket_and_queue,
    database_url,
    start_consumer,
    start_redis,
    start_worker,
    wait_until,
)

E2E_REDIS_URL = os.environ.get("E2E_REDIS_URL", "redis://127.0.0.1:6379/3")
CONSUMER_ARGS = ("--sweep-interval", "1", "--requeue-after", "4", "--abandoned-after", "4")


class Pipeline:
    """One test's bucket, queue, broker and processes; every process is stopped at teardown."""

    def __init__(
        self, *, endpoint: str, bucket: str, queue_url: str, broker_url: str, db_url: str, log_dir: Path
    ) -> None:
        self.endpoint = endpoint
        self.bucket = bucket
        self.queue_url = queue_url
        self.broker_url = broker_url
        self.db_url = db_url
        self.log_dir = log_dir
        self.s3, self.sqs = aws_clients(endpoint)
        self.processes: list[ManagedProcess] = []

    def env(self, **extra: str) -> dict[str, str]:
        return child_env(
            database_url=self.db_url,
            broker_url=self.broker_url,
            aws_endpoint=self.endpoint,
            bucket=self.bucket,
            queue_url=self.queue_url,
            **extra,
        )

    def start_worker(self, concurrency: int = 1, **extra_env: str) -> ManagedProcess:
        worker = start_worker(self.env(**extra_env), self.log_dir, concurrency=concurrency)
        self.processes.append(worker)
        return worker

    def start_consumer(self, *args: str, **extra_env: str) -> ManagedProcess:
        consumer = start_consumer(self.env(**extra_env), self.log_dir, *(args or CONSUMER_ARGS))
        self.processes.append(consumer)
        return consumer

    def start_redis(self, port: int) -> ManagedProcess:
        redis = start_redis(port, self.log_dir)
        self.processes.append(redis)
        return redis

    def put(self, key: str, body: bytes) -> str:
        return self.s3.put_object(Bucket=self.bucket, Key=key, Body=body)["ETag"].strip('"')

    def wait_files(self, count: int, timeout: float = 60.0, statuses=("imported",)) -> list:
        from ingest.models import ImportFile

        def done():
            files = list(ImportFile.objects.filter(status__in=statuses).order_by("pk"))
            return files if len(files) >= count else None

        try:
            return wait_until(done, timeout, 0.1, f"{count} file(s) {'/'.join(statuses)}")
        except TimeoutError as exc:
            raise TimeoutError(
                f"{exc}; files: {list(ImportFile.objects.values_list('pk', 'key', 'status'))}\n{self.logs()}"
            ) from None

    def disable_notifications(self) -> None:
        self.s3.put_bucket_notification_configuration(Bucket=self.bucket, NotificationConfiguration={})

    def queue_depth(self) -> int:
        attrs = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])

    def broker_idle(self) -> bool:
        """No task waiting in the queue, and none delivered but unacknowledged (running or scheduled)."""
        import redis

        client = redis.Redis.from_url(self.broker_url, socket_timeout=5)
        return client.llen("celery") == 0 and client.hlen("unacked") == 0

    def logs(self) -> str:
        return "\n".join(f"--- {p.name} ---\n{p.log()[-3000:]}" for p in self.processes)

    def stop_all(self) -> None:
        import signal

        for process in self.processes:  # all at once: warm shutdowns overlap
            process.signal(signal.SIGTERM)
        for process in reversed(self.processes):
            process.stop()
        self.processes.clear()


@pytest.fixture
def broker_url() -> Iterator[str]:
    import redis

    client = redis.Redis.from_url(E2E_REDIS_URL, socket_timeout=5)
    client.flushdb()
    yield E2E_REDIS_URL
    client.flushdb()


@pytest.fixture
def pipeline(transactional_db, aws, broker_url, settings, tmp_path) -> Iterator[Pipeline]:
    """Bucket + queue + notifications on moto, the broker, and the means to start the processes."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("the end-to-end tests run on PostgreSQL")
    s3, sqs = aws_clients(aws)
    bucket = settings.INGEST_BUCKET
    queue_url = create_bucket_and_queue(s3, sqs, bucket, f"ingest-e2e-{uuid.uuid4().hex[:8]}")
    settings.INGEST_QUEUE_URL = queue_url
    p = Pipeline(
        endpoint=aws,
        bucket=bucket,
        queue_url=queue_url,
        broker_url=broker_url,
        db_url=database_url(connection.settings_dict),
        log_dir=tmp_path / "logs",
    )
    try:
        yield p
    finally:
        p.stop_all()
