"""AWS_MAX_ATTEMPTS means what the AWS SDKs mean: every attempt of a call, the first included."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from website.env import aws_retries


class _AlwaysUnavailable(BaseHTTPRequestHandler):
    """An endpoint that answers every request 503, counting them."""

    count = 0

    def do_GET(self):
        type(self).count += 1
        self.send_response(503)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.mark.parametrize("attempts", [1, 2, 4])
def test_a_call_is_tried_exactly_aws_max_attempts_times(attempts, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")

    class Handler(_AlwaysUnavailable):
        count = 0

    handler = Handler
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        client = boto3.client(
            "s3",
            endpoint_url=f"http://127.0.0.1:{server.server_address[1]}",
            region_name="us-east-1",
            config=Config(connect_timeout=2, read_timeout=2, retries=aws_retries(attempts)),
        )
        with pytest.raises(ClientError):
            client.list_buckets()
    finally:
        server.shutdown()
    assert handler.count == attempts


def test_the_settings_clients_use_it(settings):
    assert settings.INGEST_BOTO_CONFIG.retries == aws_retries(settings.AWS_MAX_ATTEMPTS)
    assert aws_retries(settings.AWS_MAX_ATTEMPTS)["total_max_attempts"] == settings.AWS_MAX_ATTEMPTS
