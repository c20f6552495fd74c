"""The stand-in's data: its configuration, Kinesis records and PutRecord results, deliveries and
per-stream statistics, and the errors ``put_record`` raises."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field

from transforms.streams import STREAMS

# Kinesis's limit for one record's data; the import API answers 413 above it.
MAX_RECORD_BYTES = 1 << 20
ACCOUNT_ID = "000000000000"
SHARD_ID = "shardId-000000000000"


class UnknownStream(KeyError):
    """No delivery stream carries this stream."""


class RecordTooLarge(ValueError):
    """A record's data is larger than Kinesis accepts (1 MiB)."""


class FirehoseClosed(RuntimeError):
    """The stand-in was closed; it takes no more records."""


@dataclass(frozen=True)
class FirehoseConfig:
    bucket: str
    env: str = "local"
    region: str = "us-east-1"
    buffer_size_bytes: int = 1 << 20
    buffer_interval_seconds: float = 1.0
    # Firehose's processor NumberOfRetries: invocations after the first that raised.
    lambda_retries: int = 3
    error_prefix_root: str = "errors/"

    @classmethod
    def from_settings(cls) -> FirehoseConfig:
        from django.conf import settings

        return cls(
            bucket=settings.INGEST_BUCKET,
            env=settings.INGEST_ENV,
            region=settings.AWS_REGION,
            buffer_size_bytes=settings.INGEST_LOCAL_BUFFER_BYTES,
            buffer_interval_seconds=settings.INGEST_LOCAL_BUFFER_SECONDS,
            lambda_retries=settings.INGEST_LOCAL_LAMBDA_RETRIES,
        )


@dataclass(frozen=True)
class PutRecordResult:
    sequence_number: str
    shard_id: str = SHARD_ID


@dataclass(frozen=True)
class KinesisRecord:
    data: bytes
    partition_key: str
    sequence_number: str
    arrival_ms: int
    arrival_monotonic: float

    @property
    def record_id(self) -> str:
        # Firehose's record ids for a Kinesis source are long decimal strings derived from the
        # sequence number; unique per record is what the contract needs.
        return f"{self.sequence_number}{0:06d}"


@dataclass(frozen=True)
class Delivery:
    """One delivered batch: what went where."""

    stream: str
    records: int
    ok: int
    dropped: int
    failed: int
    key: str | None  # the data object, None when no record was Ok
    error_key: str | None  # the error-output object, None when nothing failed
    error_code: str | None = None
    delivered_at: float = field(default_factory=time.time)


@dataclass
class StreamStats:
    records_in: int = 0
    records_ok: int = 0
    records_dropped: int = 0
    records_failed: int = 0
    files: int = 0
    error_files: int = 0
    bytes_written: int = 0
    delivery_failures: int = 0


def partition_key_of(data: bytes, stream: str) -> str:
    """The entity's natural key from the body, key fields joined with ``|`` (the API Gateway mapping);
    for a body without a readable key, a stable hash of it (Kinesis only needs 1-256 characters)."""
    try:
        event = json.loads(data)
        key = event["key"]
        value = "|".join(str(key[f.name]) for f in STREAMS[stream].key)
    except (ValueError, TypeError, KeyError, AttributeError):
        value = ""
    if not value or len(value) > 256:
        value = hashlib.sha256(data).hexdigest()
    return value
