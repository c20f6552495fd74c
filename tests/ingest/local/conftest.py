"""Fixtures of the local import API and Firehose stand-in tests: the stand-in (the bucket in moto is
ingest.testing.fixtures')."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


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
