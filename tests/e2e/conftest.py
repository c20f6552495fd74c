"""Fixtures of the end-to-end tests: moto (S3 + SQS with real bucket notifications), a real Redis
broker, real Celery worker processes and the consumer, all on the pytest-django test database
(PostgreSQL; data committed by ``transactional_db`` so that the child processes see it)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from ingest.testing.aws import aws_clients, create_bucket_and_queue
from ingest.testing.pipeline import Pipeline
from ingest.testing.processes import database_url

E2E_REDIS_URL = os.environ.get("E2E_REDIS_URL", "redis://127.0.0.1:6379/3")


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
