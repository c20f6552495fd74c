"""What the event consumer is given and what it reports: its options (from settings, or a
command's flags), the result of one message, the totals of a run, and its SQS client."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from website.env import aws_retries


def sqs_client(wait_time_seconds: int = 20):
    """An SQS client whose read timeout outlasts a long poll, with the project's endpoint and retries."""
    import boto3
    from botocore.config import Config

    config = Config(
        region_name=settings.AWS_REGION,
        connect_timeout=settings.AWS_CONNECT_TIMEOUT,
        read_timeout=max(settings.AWS_READ_TIMEOUT, wait_time_seconds + 10),
        retries=aws_retries(settings.AWS_MAX_ATTEMPTS),
    )
    return boto3.client("sqs", endpoint_url=settings.AWS_ENDPOINT_URL, config=config)


@dataclass
class ConsumerOptions:
    queue_url: str
    wait_time_seconds: int = 10
    batch_size: int = 10
    visibility_timeout: int | None = None
    sweep_interval: float = 30.0
    requeue_after: float = 600.0
    abandoned_after: float = 120.0
    max_redeliveries: int = 5
    orphan_check_interval: float = 2.0
    backoff_max: float = 5.0

    @classmethod
    def from_settings(cls, **overrides) -> ConsumerOptions:
        values: dict[str, Any] = {
            "queue_url": settings.INGEST_QUEUE_URL,
            "wait_time_seconds": settings.INGEST_CONSUMER_WAIT_SECONDS,
            "sweep_interval": settings.INGEST_SWEEP_INTERVAL_SECONDS,
            "requeue_after": settings.INGEST_REQUEUE_AFTER_SECONDS,
            "abandoned_after": settings.INGEST_ABANDONED_AFTER_SECONDS,
            "max_redeliveries": settings.INGEST_MAX_REDELIVERIES,
            "orphan_check_interval": settings.INGEST_ORPHAN_CHECK_SECONDS,
            "backoff_max": settings.INGEST_CONSUMER_BACKOFF_MAX_SECONDS,
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


@dataclass
class MessageResult:
    message_id: str
    registered: list[int] = field(default_factory=list)  # files this message created
    enqueued: list[int] = field(default_factory=list)  # files it rang the task for
    ignored_events: int = 0  # records other than ObjectCreated
    test_event: bool = False
    rejected: str = ""  # why the message could not be read
    deleted: bool = False


@dataclass
class RunSummary:
    messages: int = 0
    registered: int = 0
    enqueued: int = 0
    rejected: int = 0
    swept: int = 0
    errors: int = 0
    drained: bool = False
    timed_out: bool = False
