"""moto and the AWS resources of ``infra/`` on it: an in-process moto server, clients, the
bucket whose ObjectCreated notifications reach a queue (one configuration per stream prefix),
and reading what landed in the bucket. moto is a development dependency (requirements-dev.txt):
only ``ingest.testing`` and ``ingest.demo`` import it."""

from __future__ import annotations

import contextlib
import gzip
import os
import uuid
from collections.abc import Iterator
from typing import Any

from transforms.streams import STREAM_NAMES

# Where Firehose writes the records the transform or the delivery failed (infra/ notifies a queue).
ERROR_PREFIX = "errors/"


@contextlib.contextmanager
def moto_server(port: int = 0) -> Iterator[str]:
    """An in-process moto server (S3 + SQS, real bucket notifications); its endpoint URL."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    host, bound = server.get_host_and_port()
    try:
        yield f"http://{host}:{bound}"
    finally:
        server.stop()


def _set_environment(values: dict[str, str | None]) -> None:
    for name, value in values.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@contextlib.contextmanager
def fake_aws_credentials() -> Iterator[None]:
    """moto accepts any credentials; never sign local requests with a developer's real ones."""
    fake: dict[str, str | None] = {
        "AWS_ACCESS_KEY_ID": "demo",
        "AWS_SECRET_ACCESS_KEY": "demo",
        "AWS_SESSION_TOKEN": None,
    }
    saved = {name: os.environ.get(name) for name in fake}
    _set_environment(fake)
    try:
        yield
    finally:
        _set_environment(saved)


def storages_with_endpoint(storages: dict[str, Any], endpoint: str, bucket: str = "") -> dict[str, Any]:
    """A copy of the STORAGES setting whose ``ingest`` storage talks to ``endpoint`` (and ``bucket``)."""
    ingest = dict(storages["ingest"])
    ingest["OPTIONS"] = {**ingest["OPTIONS"], "endpoint_url": endpoint, **({"bucket_name": bucket} if bucket else {})}
    return {**storages, "ingest": ingest}


def aws_clients(endpoint: str):
    import boto3
    from botocore.config import Config

    config = Config(region_name="us-east-1", connect_timeout=5, read_timeout=30, retries={"max_attempts": 3})
    s3 = boto3.client("s3", endpoint_url=endpoint, config=config)
    sqs = boto3.client("sqs", endpoint_url=endpoint, config=config)
    return s3, sqs


def new_bucket(s3, prefix: str = "ops") -> str:
    """A bucket of a name no other test uses."""
    name = f"{prefix}-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name


def create_bucket_and_queue(s3, sqs, bucket: str, queue: str, *, notifications: bool = True) -> str:
    """The bucket, the queue, and (unless told not to) the bucket's ObjectCreated notifications, one
    configuration per stream prefix, as infra/ sets them up. Returns the queue URL."""
    s3.create_bucket(Bucket=bucket)
    queue_url = sqs.create_queue(QueueName=queue, Attributes={"VisibilityTimeout": "60"})["QueueUrl"]
    if notifications:
        enable_notifications(s3, sqs, bucket, queue_url)
    return queue_url


def queue_arn(sqs, queue_url: str) -> str:
    return sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def _created_rule(arn: str, name: str, prefix: str) -> dict:
    return {
        "Id": name,
        "QueueArn": arn,
        "Events": ["s3:ObjectCreated:*"],
        "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": prefix}]}},
    }


def enable_notifications(s3, sqs, bucket: str, queue_url: str, *, errors_queue_url: str = "") -> None:
    """ObjectCreated notifications as infra/ configures them: each stream's prefix and ``snapshots/`` to
    the ingest queue, and (when given) Firehose's ``errors/`` prefix to the failed-records queue."""
    arn = queue_arn(sqs, queue_url)
    rules = [_created_rule(arn, f"ingest-{stream}", f"{stream}/") for stream in STREAM_NAMES]
    rules.append(_created_rule(arn, "ingest-snapshots", "snapshots/"))  # System Two's snapshots (reconciliation)
    if errors_queue_url:
        rules.append(_created_rule(queue_arn(sqs, errors_queue_url), "failed-records", ERROR_PREFIX))
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={"QueueConfigurations": rules})


def drain_test_events(sqs, queue_url: str) -> None:
    """Remove the s3:TestEvent that configuring notifications sends (the consumer skips it anyway)."""
    for message in sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []):
        if "s3:TestEvent" in message["Body"]:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        else:
            sqs.change_message_visibility(
                QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
            )


def keys(s3, bucket: str, prefix: str = "") -> list[str]:
    response = s3.list_objects_v2(Bucket=bucket, Prefix=prefix)
    return sorted(o["Key"] for o in response.get("Contents", []))


def raw_object(s3, bucket: str, key: str) -> bytes:
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()


def read_gzip(s3, bucket: str, key: str) -> bytes:
    return gzip.decompress(raw_object(s3, bucket, key))
