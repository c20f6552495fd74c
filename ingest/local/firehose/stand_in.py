"""The stand-in of the nine streams: ``put_record`` from any thread, one background thread that
delivers batches when they are due, and the process-wide instance the import API feeds."""

from __future__ import annotations

import atexit
import logging
import threading
import time
from collections import deque
from typing import Any

from ingest.local.firehose.delivery import DeliveryStream
from ingest.local.firehose.processor import Transform
from ingest.local.firehose.records import (
    MAX_RECORD_BYTES,
    Delivery,
    FirehoseClosed,
    FirehoseConfig,
    PutRecordResult,
    RecordTooLarge,
    StreamStats,
    UnknownStream,
    partition_key_of,
)
from transforms.streams import STREAM_NAMES

logger = logging.getLogger("ingest.local.firehose")

# Bounded history of deliveries, for progress reports and tests.
MAX_DELIVERY_LOG = 10_000


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

    def use_transform(self, transform: Transform | None) -> None:
        """Deploy another processor Lambda (None: the real handler) for the batches still to come."""
        self._transform = transform

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
