"""An in-process stand-in for Kinesis Data Streams → Kinesis Data Firehose → S3, for local use.

It follows the real services' contracts, so that what lands in the bucket is what production
writes and the consumer and importer cannot tell the difference:

- ``put_record`` is Kinesis ``PutRecord``: per stream one shard, a monotonically increasing
  sequence number (a 56-digit decimal string like Kinesis's), the partition key, the arrival time.
- Delivery is Firehose with a Lambda processor: records are buffered per stream until the buffer
  holds ``buffer_size_bytes`` or its oldest record is ``buffer_interval_seconds`` old (Firehose's
  buffering hints), then the **real** ``transforms.handler.lambda_handler`` is invoked with a real
  Firehose transformation event (a JSON round trip, as Lambda does). Its response is checked like
  Firehose checks it: every recordId answered exactly once, results ``Ok``/``Dropped``/
  ``ProcessingFailed``, ``data`` base64 for ``Ok``. A function that raises (after the retries) or a
  malformed response fails the whole batch.
- The ``Ok`` records' data are concatenated with NO delimiter, GZIP-compressed and written to
  ``{stream}/YYYY/MM/dd/HH/{deliveryStream}-1-YYYY-MM-DD-HH-MM-SS-{uuid4}.gz``; ``Dropped`` records
  are not written anywhere; failed records go to the error output,
  ``errors/{stream}/processing-failed/YYYY/MM/dd/HH/{deliveryStream}-1-...-{uuid4}.gz``, one JSON
  document per line as Firehose writes them (``attemptsMade``, ``arrivalTimestamp``, ``errorCode``,
  ``errorMessage``, ``attemptEndingTimestamp``, ``rawData``, ``lambdaArn``), GZIP too. The times in
  the key are the UTC arrival time of the oldest record in the object, as Firehose's ``!{timestamp}``.

Durability: none beyond this process. A record answered with a sequence number sits in memory
until its batch is delivered; ``flush()`` (also run at interpreter exit) delivers everything
buffered. A failed S3 write puts the batch back at the head of the buffer to be retried, so
delivery is at least once, like Firehose's. Local development and the demo only.
"""

from __future__ import annotations

import atexit
import base64
import gzip
import json
import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from transforms.streams import STREAM_NAMES, STREAMS

logger = logging.getLogger(__name__)

# Kinesis's limit for one record's data; the import API answers 413 above it.
MAX_RECORD_BYTES = 1 << 20
ACCOUNT_ID = "000000000000"
SHARD_ID = "shardId-000000000000"
DELIVERY_STREAM_VERSION = 1
RESULTS = frozenset({"Ok", "Dropped", "ProcessingFailed"})
# Firehose gives a Lambda processor at most 5 minutes.
LAMBDA_TIMEOUT_MS = 300_000
# Bounded history of deliveries, for progress reports and tests.
MAX_DELIVERY_LOG = 10_000

Transform = Callable[[dict, Any], Any]


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
        import hashlib

        value = hashlib.sha256(data).hexdigest()
    return value


def _utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


class _LambdaContext:
    """What a Lambda handler may read from its context object."""

    def __init__(self, function_name: str, arn: str, region: str) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = arn
        self.memory_limit_in_mb = "512"
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = f"local/{self.aws_request_id}"
        self.region = region
        self._deadline = time.monotonic() + LAMBDA_TIMEOUT_MS / 1000

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class _BatchFailed(Exception):
    def __init__(self, code: str, message: str, attempts: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.attempts = attempts


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
        self.function_name = function
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

    def transformation_event(self, batch: list[KinesisRecord]) -> dict:
        return {
            "invocationId": str(uuid.uuid4()),
            "deliveryStreamArn": self.arn,
            "sourceKinesisStreamArn": self.kinesis_arn,
            "region": self.config.region,
            "records": [
                {
                    "recordId": r.record_id,
                    "approximateArrivalTimestamp": r.arrival_ms,
                    "data": base64.b64encode(r.data).decode("ascii"),
                    "kinesisRecordMetadata": {
                        "shardId": SHARD_ID,
                        "partitionKey": r.partition_key,
                        "approximateArrivalTimestamp": r.arrival_ms,
                        "sequenceNumber": r.sequence_number,
                        "subsequenceNumber": 0,
                    },
                }
                for r in batch
            ],
        }

    def _invoke(self, event: dict) -> tuple[dict, int]:
        """Invoke the transform as Lambda would (JSON in, JSON out); retries a function error."""
        payload = json.dumps(event)
        attempts = 0
        while True:
            attempts += 1
            context = _LambdaContext(self.function_name, self.lambda_arn, self.config.region)
            try:
                response = self.owner.transform(json.loads(payload), context)
            except Exception as exc:
                logger.warning("local firehose %s: the transform raised (attempt %d): %r", self.name, attempts, exc)
                if attempts > self.config.lambda_retries:
                    raise _BatchFailed(
                        "Lambda.FunctionError",
                        f"The Lambda function was successfully invoked but it returned an error result: "
                        f"{type(exc).__name__}: {exc}",
                        attempts,
                    ) from exc
                continue
            try:
                return json.loads(json.dumps(response)), attempts
            except (TypeError, ValueError) as exc:
                raise _BatchFailed(
                    "Lambda.JsonProcessingException",
                    f"The Lambda function's response is not valid JSON: {exc}",
                    attempts,
                ) from exc

    @staticmethod
    def _check_response(response: object, batch: list[KinesisRecord]) -> dict[str, dict]:
        """The response records by recordId, or _BatchFailed if Firehose would reject the response."""
        if not isinstance(response, dict) or not isinstance(response.get("records"), list):
            raise _BatchFailed("Lambda.InvalidReturnedData", "The response has no 'records' list.")
        expected = {r.record_id for r in batch}
        by_id: dict[str, dict] = {}
        for item in response["records"]:
            if not isinstance(item, dict):
                raise _BatchFailed("Lambda.InvalidReturnedData", "A response record is not an object.")
            record_id = item.get("recordId")
            if record_id not in expected:
                raise _BatchFailed("Lambda.MissingRecordId", f"Unknown or missing recordId {record_id!r}.")
            if record_id in by_id:
                raise _BatchFailed("Lambda.DuplicatedRecordId", f"recordId {record_id} was returned twice.")
            result = item.get("result")
            if result not in RESULTS:
                raise _BatchFailed(
                    "Lambda.InvalidReturnedData",
                    f"recordId {record_id}: result {result!r} is not Ok, Dropped or ProcessingFailed.",
                )
            if result == "Ok":
                data = item.get("data")
                try:
                    if not isinstance(data, str):
                        raise ValueError("missing")
                    item["_bytes"] = base64.b64decode(data, validate=True)
                except ValueError as exc:
                    raise _BatchFailed(
                        "Lambda.InvalidReturnedData", f"recordId {record_id}: 'data' is not base64 ({exc})."
                    ) from exc
            by_id[record_id] = item
        if len(by_id) != len(expected):
            raise _BatchFailed("Lambda.MissingRecordId", f"{len(expected) - len(by_id)} recordId(s) were not returned.")
        return by_id

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
        event = self.transformation_event(batch)
        failures: list[tuple[KinesisRecord, str, str]] = []
        ok: list[bytes] = []
        dropped = 0
        attempts = 1
        batch_error: str | None = None
        try:
            response, attempts = self._invoke(event)
            by_id = self._check_response(response, batch)
        except _BatchFailed as exc:
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
            lines = [
                json.dumps(
                    {
                        "attemptsMade": attempts,
                        "arrivalTimestamp": record.arrival_ms,
                        "errorCode": code,
                        "errorMessage": message,
                        "attemptEndingTimestamp": ended_ms,
                        "rawData": base64.b64encode(record.data).decode("ascii"),
                        "lambdaArn": self.lambda_arn,
                    }
                )
                for record, code, message in failures
            ]
            body = gzip.compress(("\n".join(lines) + "\n").encode("utf-8"))
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


class LocalFirehose:
    """The nine streams' Kinesis + Firehose stand-ins, with one background thread that delivers
    batches when they are due. Thread-safe: ``put_record`` may be called from any thread."""

    def __init__(
        self,
        config: FirehoseConfig,
        *,
        transform: Transform | None = None,
        s3_client: Any = None,
        start: bool = True,
    ) -> None:
        self.config = config
        self._transform = transform
        self._s3 = s3_client
        self._s3_lock = threading.Lock()
        self.streams = {name: DeliveryStream(name, config, self) for name in STREAM_NAMES}
        self.deliveries: deque[Delivery] = deque(maxlen=MAX_DELIVERY_LOG)
        self._wakeup = threading.Event()
        self._stopping = threading.Event()
        self._closed = False
        self._thread: threading.Thread | None = None
        if start:
            self.start()

    # --- collaborators ------------------------------------------------------------------------

    def transform(self, event: dict, context: Any) -> Any:
        if self._transform is None:
            from transforms.handler import lambda_handler

            self._transform = lambda_handler
        return self._transform(event, context)

    def s3(self):
        with self._s3_lock:
            if self._s3 is None:
                import boto3
                from django.conf import settings

                self._s3 = boto3.client(
                    "s3", endpoint_url=settings.AWS_ENDPOINT_URL, config=settings.INGEST_BOTO_CONFIG
                )
            return self._s3

    def put_object(self, key: str, body: bytes) -> None:
        self.s3().put_object(Bucket=self.config.bucket, Key=key, Body=body)

    def note_delivery(self, delivery: Delivery) -> None:
        self.deliveries.append(delivery)

    # --- Kinesis PutRecord --------------------------------------------------------------------

    def put_record(self, stream: str, data: bytes, partition_key: str | None = None) -> PutRecordResult:
        """Kinesis PutRecord on the stream's shard. Takes any bytes: validation is the API's
        business, and a record the transform rejects ends in the error output."""
        if self._closed:
            raise FirehoseClosed("the local firehose is closed")
        target = self.streams.get(stream)
        if target is None:
            raise UnknownStream(stream)
        if len(data) > MAX_RECORD_BYTES:
            raise RecordTooLarge(f"a record may hold at most {MAX_RECORD_BYTES} bytes, this one has {len(data)}")
        result, due = target.put(data, partition_key or partition_key_of(data, stream))
        if due or target.pending() == 1:
            # Wake the deliverer: a batch is full, or a new buffer's interval starts now.
            self._wakeup.set()
        return result

    # --- delivery -----------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="local-firehose", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stopping.is_set():
            for target in self.streams.values():
                target.deliver_due()
            deadlines = [d for d in (t.deadline() for t in self.streams.values()) if d is not None]
            timeout = 1.0
            if deadlines:
                timeout = min(1.0, max(0.005, min(deadlines) - time.monotonic()))
            self._wakeup.wait(timeout)
            self._wakeup.clear()

    def flush(self) -> None:
        """Deliver everything buffered now, in the caller's thread; raises if S3 refused a write
        (the records stay buffered)."""
        for target in self.streams.values():
            target.deliver_due(force=True, raise_errors=True)

    def pending(self) -> int:
        return sum(t.pending() for t in self.streams.values())

    def close(self) -> None:
        """Stop taking records, deliver what is buffered, stop the background thread."""
        self._closed = True
        self._stopping.set()
        self._wakeup.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=30)
        try:
            self.flush()
        finally:
            self._thread = None

    def stats(self) -> dict[str, StreamStats]:
        return {name: t.stats for name, t in self.streams.items()}

    def totals(self) -> StreamStats:
        total = StreamStats()
        for s in self.stats().values():
            for name in total.__dataclass_fields__:
                setattr(total, name, getattr(total, name) + getattr(s, name))
        return total


# --- the process-wide instance the import API feeds ---------------------------------------------

_instance: LocalFirehose | None = None
_instance_lock = threading.Lock()


def get_firehose() -> LocalFirehose:
    """The process's stand-in, created from settings on first use."""
    global _instance
    with _instance_lock:
        if _instance is None:
            _instance = LocalFirehose(FirehoseConfig.from_settings())
        return _instance


def reset_firehose() -> None:
    """Close (and flush) the process's stand-in; the next ``get_firehose()`` makes a new one from
    the settings of that moment. For tests and the demo, which change settings."""
    global _instance
    with _instance_lock:
        instance, _instance = _instance, None
    if instance is not None:
        instance.close()


@atexit.register
def _flush_at_exit() -> None:
    instance = _instance
    if instance is not None and instance.pending():
        try:
            instance.close()
        except Exception:
            logger.exception("local firehose: records still buffered at exit could not be delivered")
