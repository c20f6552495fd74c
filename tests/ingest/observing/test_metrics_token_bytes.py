"""The metrics token is compared as bytes: whatever a caller puts in ``Authorization`` is a 401,
never a 500 (``hmac.compare_digest`` refuses str with non-ASCII characters)."""

from __future__ import annotations

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db

TOKEN = "s3cret-metrics-token"


@pytest.fixture
def enabled(settings):
    settings.INGEST_METRICS_ENABLED = True
    settings.INGEST_METRICS_TOKEN = TOKEN


def wsgi_get(client: Client, authorization: bytes):
    """As a WSGI server hands the header over: its bytes decoded as ISO-8859-1 (PEP 3333)."""
    return client.get("/metrics", HTTP_AUTHORIZATION=authorization.decode("latin-1"))


@pytest.mark.parametrize(
    "authorization",
    [
        b"Bearer \xff",
        b"Bearer \xc3\xa9",
        b"Bearer " + TOKEN.encode() + b"\x80",
        b"bearer \x00",
        b"\xff \xff",
        b"Bearer",
    ],
)
def test_a_non_ascii_or_odd_token_is_refused_not_an_error(client, enabled, authorization):
    response = wsgi_get(client, authorization)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="metrics"'


def test_a_header_beyond_latin1_is_refused_too(client, enabled):
    # Not what a WSGI server can hand over, but what a test client or an ASGI adapter might.
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer \u20ac\ud800").status_code == 401


def test_a_non_ascii_token_matches_its_utf8_bytes(client, settings):
    settings.INGEST_METRICS_ENABLED = True
    settings.INGEST_METRICS_TOKEN = "t\u00f6ken-\u20ac"
    assert wsgi_get(client, "Bearer t\u00f6ken-\u20ac".encode()).status_code == 200
    assert wsgi_get(client, "Bearer t\u00f6ken-\u20ac".encode("latin-1", "replace")).status_code == 401
    assert wsgi_get(client, b"Bearer " + TOKEN.encode()).status_code == 401
