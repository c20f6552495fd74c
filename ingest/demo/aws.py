"""The demo's AWS on moto: the bucket, the ingest and failed-records queues and the bucket
notifications of ``infra/``, and this process's settings pointed at them."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

from django.conf import settings
from django.test.utils import override_settings

from ingest.testing.aws import enable_notifications, storages_with_endpoint

DEMO_BUCKET = "erp-ingest-demo"
DEMO_QUEUE = "erp-ingest-demo"
DEMO_FAILED_QUEUE = "erp-ingest-demo-failed-records"


@dataclass(frozen=True)
class DemoAws:
    endpoint: str
    bucket: str
    queue_url: str
    failed_queue_url: str


def create_aws_resources(endpoint: str, region: str) -> DemoAws:
    """The bucket, the two queues and the bucket notifications of ``infra/``: each stream's prefix
    to the ingest queue, ``errors/`` to the failed-records queue."""
    import boto3

    s3 = boto3.client("s3", endpoint_url=endpoint, region_name=region, config=settings.INGEST_BOTO_CONFIG)
    sqs = boto3.client("sqs", endpoint_url=endpoint, region_name=region, config=settings.INGEST_BOTO_CONFIG)
    if region == "us-east-1":
        s3.create_bucket(Bucket=DEMO_BUCKET)
    else:
        s3.create_bucket(Bucket=DEMO_BUCKET, CreateBucketConfiguration={"LocationConstraint": region})
    queue_url = sqs.create_queue(QueueName=DEMO_QUEUE)["QueueUrl"]
    failed_url = sqs.create_queue(QueueName=DEMO_FAILED_QUEUE)["QueueUrl"]

    enable_notifications(s3, sqs, DEMO_BUCKET, queue_url, errors_queue_url=failed_url)
    return DemoAws(endpoint, DEMO_BUCKET, queue_url, failed_url)


@contextlib.contextmanager
def demo_settings(aws: DemoAws) -> Iterator[None]:
    """Point this process's settings at the embedded services; undone on exit."""
    from ingest.local.firehose import reset_firehose
    from website.celery import app

    overrides = {
        "AWS_ENDPOINT_URL": aws.endpoint,
        "INGEST_BUCKET": aws.bucket,
        "INGEST_QUEUE_URL": aws.queue_url,
        "STORAGES": storages_with_endpoint(settings.STORAGES, aws.endpoint, aws.bucket),
        "CELERY_BROKER_URL": "memory://localhost/",
        "CELERY_TASK_ALWAYS_EAGER": False,
        "INGEST_LOCAL_API_ENABLED": True,
        "INGEST_LOCAL_API_VALIDATE": True,
    }
    # The app reads Django's CELERY_* settings under that namespace, and the namespaced keys win.
    celery_overrides = {
        "CELERY_BROKER_URL": "memory://localhost/",
        "CELERY_TASK_ALWAYS_EAGER": False,
        # The memory transport polls; its default second would add a second to every import.
        "CELERY_BROKER_TRANSPORT_OPTIONS": {"polling_interval": 0.05},
    }
    saved_celery = {name: app.conf.get(name) for name in celery_overrides}
    reset_firehose()
    # override_settings announces the STORAGES change (setting_changed): Django forgets the ingest
    # storage it built, here and again on exit.
    with override_settings(**overrides):
        app.conf.update(celery_overrides)
        try:
            yield
        finally:
            reset_firehose()
            app.conf.update(saved_celery)
