"""Shared fixtures: database vendor markers, an in-process moto (S3 + SQS) and Redis."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")


def pytest_collection_modifyitems(config, items) -> None:
    from django.conf import settings

    vendor = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    skip_pg = pytest.mark.skip(reason="needs PostgreSQL (DATABASE_URL=postgres://...)")
    for item in items:
        if "postgres" in item.keywords and vendor != "postgresql":
            item.add_marker(skip_pg)
        # Processes, faults, a browser: never part of the fast loop (-m "not slow").
        if any(marker in item.keywords for marker in ("e2e", "chaos", "browser")):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A ThreadedMotoServer for the whole session (S3 and SQS with real bucket notifications)."""
    from ingest.testing.aws import moto_server

    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture
def aws(moto_endpoint, settings, monkeypatch) -> Iterator[str]:
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
def redis_url() -> str:
    """The real Redis of the machine (CI starts it); a database number of its own for the tests."""
    return os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
