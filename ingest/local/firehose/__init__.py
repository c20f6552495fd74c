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

Modules: ``records`` (the configuration, Kinesis records, results and statistics), ``processor``
(the Lambda processor contract: the transformation event, the invocation, the response checks,
the error output's documents), ``delivery`` (one stream's shard, buffer and delivery to S3),
``stand_in`` (the nine streams with their background deliverer, and the process-wide instance).
"""

from ingest.local.firehose.delivery import DeliveryStream
from ingest.local.firehose.records import (
    MAX_RECORD_BYTES,
    Delivery,
    FirehoseClosed,
    FirehoseConfig,
    KinesisRecord,
    PutRecordResult,
    RecordTooLarge,
    StreamStats,
    UnknownStream,
    partition_key_of,
)
from ingest.local.firehose.stand_in import LocalFirehose, get_firehose, reset_firehose

__all__ = [
    "MAX_RECORD_BYTES",
    "Delivery",
    "DeliveryStream",
    "FirehoseClosed",
    "FirehoseConfig",
    "KinesisRecord",
    "LocalFirehose",
    "PutRecordResult",
    "RecordTooLarge",
    "StreamStats",
    "UnknownStream",
    "get_firehose",
    "partition_key_of",
    "reset_firehose",
]
