"""One stream's Kinesis shard and Firehose delivery stream: sequence numbers, the buffer and its
hints (size, interval), and the delivery of a due batch through the processor to S3, data and
error output, in arrival order."""

from __future__ import annotations

import gzip
import logging
import threading
import time
import uuid
from collections import deque
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from ingest.local.firehose.processor import (
    BatchFailed,
    LambdaFunction,
    check_response,
    error_output,
    invoke,
    transformation_event,
)
from ingest.local.firehose.records import (
    ACCOUNT_ID,
    Delivery,
    FirehoseConfig,
    KinesisRecord,
    PutRecordResult,
    StreamStats,
)

if TYPE_CHECKING:
    from ingest.local.firehose.stand_in import LocalFirehose

logger = logging.getLogger("ingest.local.firehose")

DELIVERY_STREAM_VERSION = 1


def _utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


class DeliveryStream:
    """One stream's Kinesis shard and Firehose delivery stream."""

    def __init__(self, stream: str, config: FirehoseConfig, owner: LocalFirehose) -> None:
        self.stream = stream
        self.config = config
        self.owner = owner
        self.name = f"{config.env}-{stream}"
        self.arn = f"arn:aws:firehose:{config.region}:{ACCOUNT_ID}:deliverystream/{self.name}"
        self.kinesis_arn = f"arn:aws:kinesis:{config.region}:{ACCOUNT_ID}:stream/{self.name}"
        function = f"{config.env}-erp-ingest-transform"
        self.lambda_arn = f"arn:aws:lambda:{config.region}:{ACCOUNT_ID}:function:{function}:$LATEST"
        self.function = LambdaFunction(function, self.lambda_arn, config.region, config.lambda_retries)
        self.stats = StreamStats()
        self._lock = threading.Lock()  # the buffer and the sequence
        self._deliver_lock = threading.Lock()  # one delivery at a time: files leave in arrival order
        self._buffer: deque[KinesisRecord] = deque()
        self._buffered_bytes = 0
        self._sequence = 0
        self._retry_after = 0.0  # after a failed S3 write, no new attempt before this (monotonic)
        # A 56-digit number that starts with the creation time: later processes number higher.
        self._sequence_base = time.time_ns() // 1000

    # --- Kinesis ------------------------------------------------------------------------------

    def put(self, data: bytes, partition_key: str) -> tuple[PutRecordResult, bool]:
        """Append one record; returns its result and whether the buffer is now due by size."""
        with self._lock:
            self._sequence += 1
            sequence = f"49{self._sequence_base:020d}{self._sequence:034d}"
            now_ms = time.time_ns() // 1_000_000
            record = KinesisRecord(bytes(data), partition_key, sequence, now_ms, time.monotonic())
            self._buffer.append(record)
            self._buffered_bytes += len(record.data)
            self.stats.records_in += 1
            return PutRecordResult(sequence), self._buffered_bytes >= self.config.buffer_size_bytes

    # --- buffering ----------------------------------------------------------------------------

    def deadline(self) -> float | None:
        """When the oldest buffered record's interval runs out (monotonic), None if empty."""
        with self._lock:
            if not self._buffer:
                return None
            return max(self._buffer[0].arrival_monotonic + self.config.buffer_interval_seconds, self._retry_after)

    def pending(self) -> int:
        with self._lock:
            return len(self._buffer)

    def _take(self, *, force: bool, now: float) -> list[KinesisRecord]:
        """The next batch if one is due (by size or age, or ``force``): at most buffer_size_bytes
        of records (at least one), in arrival order."""
        with self._lock:
            if not self._buffer or (not force and now < self._retry_after):
                return []
            due_by_size = self._buffered_bytes >= self.config.buffer_size_bytes
            due_by_age = now - self._buffer[0].arrival_monotonic >= self.config.buffer_interval_seconds
            if not (force or due_by_size or due_by_age):
                return []
            batch: list[KinesisRecord] = []
            size = 0
            while self._buffer:
                nxt = len(self._buffer[0].data)
                if batch and size + nxt > self.config.buffer_size_bytes:
                    break
                record = self._buffer.popleft()
                batch.append(record)
                size += nxt
            self._buffered_bytes -= size
            return batch

    def _put_back(self, batch: list[KinesisRecord]) -> None:
        with self._lock:
            self._buffer.extendleft(reversed(batch))
            self._buffered_bytes += sum(len(r.data) for r in batch)
            self.stats.delivery_failures += 1
            self._retry_after = time.monotonic() + max(1.0, self.config.buffer_interval_seconds)

    def deliver_due(self, *, force: bool = False, raise_errors: bool = False) -> int:
        """Deliver every batch that is due (all of them with ``force``); returns how many."""
        delivered = 0
        with self._deliver_lock:
            while True:
                batch = self._take(force=force, now=time.monotonic())
                if not batch:
                    return delivered
                try:
                    self._deliver(batch)
                except Exception:
                    logger.exception("local firehose %s: delivery to S3 failed; the batch will be retried", self.name)
                    if raise_errors:
                        raise
                    return delivered
                delivered += 1

    # --- Firehose -----------------------------------------------------------------------------

    def _invoke(self, batch: list[KinesisRecord]) -> tuple[dict[str, dict], int]:
        """The checked response by recordId and the attempts it took (BatchFailed otherwise)."""
        event = transformation_event(
            batch, stream_arn=self.arn, kinesis_arn=self.kinesis_arn, region=self.config.region
        )
        response, attempts = invoke(self.owner.transform, event, self.function, label=self.name)
        try:
            return check_response(response, batch), attempts
        except BatchFailed as exc:
            exc.attempts = attempts
            raise

    def _key(self, prefix: str, oldest_ms: int) -> str:
        when = _utc(oldest_ms)
        return (
            f"{prefix}{when:%Y/%m/%d/%H}/{self.name}-{DELIVERY_STREAM_VERSION}-"
            f"{when:%Y-%m-%d-%H-%M-%S}-{uuid.uuid4()}.gz"
        )

    def data_key(self, oldest_ms: int) -> str:
        return self._key(f"{self.stream}/", oldest_ms)

    def error_key(self, oldest_ms: int) -> str:
        return self._key(f"{self.config.error_prefix_root}{self.stream}/processing-failed/", oldest_ms)

    def _deliver(self, batch: list[KinesisRecord]) -> None:
        failures: list[tuple[KinesisRecord, str, str]] = []
        ok: list[bytes] = []
        dropped = 0
        attempts = 1
        batch_error: str | None = None
        try:
            by_id, attempts = self._invoke(batch)
        except BatchFailed as exc:
            batch_error = exc.code
            attempts = exc.attempts or attempts
            failures = [(r, exc.code, exc.message) for r in batch]
        else:
            for record in batch:
                item = by_id[record.record_id]
                if item["result"] == "Ok":
                    ok.append(item["_bytes"])
                elif item["result"] == "Dropped":
                    dropped += 1
                else:
                    # Firehose has no field for a reason; a transform may still offer one (not ours:
                    # it logs the reason instead).
                    message = item.get("errorMessage")
                    if not isinstance(message, str) or not message:
                        message = "The Lambda function returned ProcessingFailed for this record."
                    failures.append((record, "Lambda.ProcessingFailed", message))
        ended_ms = time.time_ns() // 1_000_000

        data_key = None
        if ok:
            body = gzip.compress(b"".join(ok))
            data_key = self.data_key(batch[0].arrival_ms)
            try:
                self.owner.put_object(data_key, body)
            except Exception:
                self._put_back(batch)
                raise
            self.stats.files += 1
            self.stats.bytes_written += len(body)
        error_key = None
        if failures:
            output = error_output(failures, attempts=attempts, ended_ms=ended_ms, lambda_arn=self.lambda_arn)
            body = gzip.compress(output)
            error_key = self.error_key(failures[0][0].arrival_ms)
            try:
                self.owner.put_object(error_key, body)
            except Exception:
                # The Ok records are in S3 already; only the failed ones go round again.
                self._put_back([record for record, _, _ in failures])
                raise
            self.stats.error_files += 1
        self.stats.records_ok += len(ok)
        self.stats.records_dropped += dropped
        self.stats.records_failed += len(failures)
        self.owner.note_delivery(
            Delivery(self.stream, len(batch), len(ok), dropped, len(failures), data_key, error_key, batch_error)
        )
