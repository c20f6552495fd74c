"""Fixtures of the local import API and Firehose stand-in tests: a bucket in moto, the stand-in."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest


@pytest.fixture
def s3(aws, settings):
    return boto3.client("s3", endpoint_url=aws, config=settings.INGEST_BOTO_CONFIG)


@pytest.fixture
def bucket(s3, settings) -> str:
    s3.create_bucket(Bucket=settings.INGEST_BUCKET)
    return settings.INGEST_BUCKET


@pytest.fixture
def local_firehose(bucket, settings) -> Iterator[None]:
    """The process-wide stand-in the API feeds, made afresh from these test settings (a long
    buffer interval: the tests flush when they want files)."""
    from ingest.local.firehose import reset_firehose

    settings.INGEST_LOCAL_BUFFER_SECONDS = 60.0
    settings.INGEST_LOCAL_API_ENABLED = True
    settings.INGEST_LOCAL_API_VALIDATE = True
    reset_firehose()
    yield
    reset_firehose()
