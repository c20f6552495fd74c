"""The fault proxy itself, in front of moto: each mode breaks a boto3 call the way it claims to,
and counts what it injected. Fast; runs in the default suite (no database)."""

from __future__ import annotations

import time
import uuid

import pytest
from botocore.exceptions import ClientError, ConnectionClosedError, HTTPClientError, ReadTimeoutError

from tests.chaos.faultproxy import FaultProxy


@pytest.fixture
def proxy(moto_endpoint):
    with FaultProxy(moto_endpoint) as p:
        yield p


def _s3(endpoint: str, *, read_timeout: float = 10):
    import boto3
    from botocore.config import Config

    retries = {"total_max_attempts": 1, "mode": "standard"}
    config = Config(region_name="us-east-1", connect_timeout=2, read_timeout=read_timeout, retries=retries)
    return boto3.client(
        "s3", endpoint_url=endpoint, config=config, aws_access_key_id="testing", aws_secret_access_key="testing"
    )


@pytest.fixture
def bucket_object(moto_endpoint):
    s3 = _s3(moto_endpoint)
    bucket = f"chaos-proxy-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    body = b"0123456789" * 10_000
    s3.put_object(Bucket=bucket, Key="k", Body=body)
    return bucket, "k", body


def test_pass_forwards_every_method_unchanged(proxy, bucket_object):
    bucket, key, body = bucket_object
    s3 = _s3(proxy.url)
    s3.put_object(Bucket=bucket, Key="k2", Body=b"through the proxy")
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == body
    assert s3.get_object(Bucket=bucket, Key="k2")["Body"].read() == b"through the proxy"
    assert s3.head_object(Bucket=bucket, Key=key)["ContentLength"] == len(body)
    assert proxy.injected == 0


@pytest.mark.parametrize(("status", "code"), [(500, "InternalError"), (503, "ServiceUnavailable")])
def test_error_answers_an_s3_error_without_forwarding(proxy, bucket_object, status, code):
    bucket, key, _ = bucket_object
    proxy.set_mode("error", status=status)
    with pytest.raises(ClientError) as caught:
        _s3(proxy.url).get_object(Bucket=bucket, Key=key)
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
    assert caught.value.response["Error"]["Code"] == code
    assert proxy.faults == {"error": 1}


def test_reset_closes_the_connection_before_any_answer(proxy, bucket_object):
    bucket, key, _ = bucket_object
    proxy.set_mode("reset")
    with pytest.raises((ConnectionClosedError, HTTPClientError)):
        _s3(proxy.url).get_object(Bucket=bucket, Key=key)
    assert proxy.faults["reset"] >= 1


def test_truncate_breaks_the_download_half_way(proxy, bucket_object):
    bucket, key, body = bucket_object
    proxy.set_mode("truncate", only=("GET",))
    response = _s3(proxy.url).get_object(Bucket=bucket, Key=key)
    with pytest.raises(HTTPClientError):  # botocore's ResponseStreamingError / IncompleteRead
        data = response["Body"].read()
        assert len(data) < len(body)  # only if the client did not notice (it must)
    assert proxy.faults == {"truncate": 1}


def test_delay_past_the_read_timeout_times_out_and_only_limits_the_methods(proxy, bucket_object):
    bucket, key, body = bucket_object
    proxy.set_mode("delay", delay=1.5, only=("GET",))
    s3 = _s3(proxy.url, read_timeout=0.5)
    started = time.monotonic()
    with pytest.raises(ReadTimeoutError):
        s3.get_object(Bucket=bucket, Key=key)
    assert time.monotonic() - started >= 0.5
    assert s3.head_object(Bucket=bucket, Key=key)["ContentLength"] == len(body)  # HEAD is not delayed
    proxy.passthrough()
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == body
    assert proxy.faults == {"delay": 1}


def test_unknown_mode_is_refused(proxy):
    with pytest.raises(ValueError, match="unknown mode"):
        proxy.set_mode("flaky")
    with pytest.raises(ValueError, match="status"):
        proxy.set_mode("error", status=404)
