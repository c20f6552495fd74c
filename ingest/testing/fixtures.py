"""The pytest fixtures of moto, loaded by tests/conftest.py (``pytest_plugins``): the server for
the session, the settings pointing at it for one test, an S3 client, and the ingest bucket."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A ThreadedMotoServer for the whole session (S3 and SQS with real bucket notifications)."""
    from ingest.testing.aws import moto_server

    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture
def aws(moto_endpoint: str, settings: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Points the ingest's S3 storage (django-storages) at moto for one test; resets moto afterwards.
    Changing settings.STORAGES makes Django forget the storage it built (setting_changed)."""
    import requests

    from ingest.testing.aws import storages_with_endpoint

    settings.AWS_ENDPOINT_URL = moto_endpoint
    settings.STORAGES = storages_with_endpoint(settings.STORAGES, moto_endpoint)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    try:
        yield moto_endpoint
    finally:
        requests.post(f"{moto_endpoint}/moto-api/reset", timeout=10)


@pytest.fixture
def s3(aws: str) -> Any:
    """An S3 client on moto (moto is emptied after the test)."""
    from ingest.testing.aws import aws_clients

    return aws_clients(aws)[0]


@pytest.fixture
def bucket(s3: Any, settings: Any) -> str:
    """The ingest bucket (``settings.INGEST_BUCKET``), created in moto; its name."""
    s3.create_bucket(Bucket=settings.INGEST_BUCKET)
    return settings.INGEST_BUCKET
