"""Which failures the importer retries (transient) and which fail the file at once."""

from __future__ import annotations

import pytest
from botocore.exceptions import (
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    IncompleteReadError,
    NoCredentialsError,
    ReadTimeoutError,
    ResponseStreamingError,
)

from ingest.services.importing.exceptions import is_transient


def _client_error(status: int, code: str) -> ClientError:
    return ClientError({"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, "GetObject")


@pytest.mark.parametrize(
    "exc",
    [
        IncompleteReadError(actual_bytes=10, expected_bytes=100),  # a download cut short
        ResponseStreamingError(error="Connection broken"),
        ReadTimeoutError(endpoint_url="http://s3"),
        ConnectTimeoutError(endpoint_url="http://s3"),
        EndpointConnectionError(endpoint_url="http://s3"),
        _client_error(503, "SlowDown"),
        _client_error(500, "InternalError"),
        ConnectionResetError(),
        TimeoutError(),
    ],
)
def test_transient(exc):
    assert is_transient(exc)


@pytest.mark.parametrize(
    "exc",
    [_client_error(404, "NoSuchKey"), _client_error(403, "AccessDenied"), NoCredentialsError(), ValueError("bad")],
)
def test_permanent(exc):
    assert not is_transient(exc)
