"""Shared fixtures: database vendor markers, moto (S3 + SQS, from ingest.testing.fixtures) and Redis."""

from __future__ import annotations

import os

import pytest
from hypothesis import settings as hypothesis_settings

# moto: the server, the settings pointing at it, an S3 client, the ingest bucket.
pytest_plugins = ["ingest.testing.fixtures"]

os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

# CI draws every property test's and fuzz target's cases from a fixed seed: a red run is the
# code's, not the draw's, and running it again shows the same cases. Local runs draw new cases
# each time (``FUZZ_EXAMPLES=1000 pytest -m fuzz`` digs deeper); a case one finds becomes a test.
if os.environ.get("CI") == "true":
    hypothesis_settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
    hypothesis_settings.load_profile("ci")


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


@pytest.fixture
def redis_url() -> str:
    """The real Redis of the machine (CI starts it); a database number of its own for the tests."""
    return os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
