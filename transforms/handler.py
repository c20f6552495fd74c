"""The Kinesis Data Firehose data-transformation Lambda: System Two events in, System One lines out.

Firehose (source: the stream's Kinesis data stream, fed by API Gateway) calls
``lambda_handler`` with a batch of records whose ``data`` is the base64 of one event body.
For every input record the answer has exactly one record, same ``recordId``, same order:

* ``Ok``: ``data`` is the base64 of the event's System One line (ending in "\\n"; Firehose
  concatenates the records of a file without a delimiter);
* ``ProcessingFailed``: the record is not a valid event of the delivery stream's stream; ``data``
  is the original, so Firehose's error output keeps the body as it came, and the reason is logged.

Every valid event is ``Ok``, a retried one (same eventId) included: the importer finds the
repeat stale and changes nothing, so dropping it here would save a line and risk nothing less.
The handler never answers ``Dropped``.

Standard library only, and cheap to import (cold starts).  It never raises for bad data.
"""

from __future__ import annotations

import base64
import binascii
import logging
from typing import Any

from .events import InvalidEvent, parse_event, stream_of_delivery_stream
from .system_one.writer import write_record

logger = logging.getLogger(__name__)

OK = "Ok"
FAILED = "ProcessingFailed"
PREFIX_BYTES = 48  # how much of a failed body the log may show


def _prefix(body: bytes) -> str:
    return repr(body[:PREFIX_BYTES]) + ("..." if len(body) > PREFIX_BYTES else "")


def lambda_handler(event: dict[str, Any], context: object = None) -> dict[str, Any]:
    """Transform one Firehose invocation; see the module docstring."""
    if not isinstance(event, dict):
        event = {}
    records = event.get("records")
    if not isinstance(records, list):
        records = []
    arn = event.get("deliveryStreamArn")
    try:
        stream: str | None = stream_of_delivery_stream(arn)  # type: ignore[arg-type]
        stream_error = ""
    except ValueError as e:  # InvalidEvent included
        stream, stream_error = None, str(e)
        logger.error("cannot tell the stream of delivery stream %r: %s; failing all %d records", arn, e, len(records))

    out: list[dict[str, Any]] = []
    counts = {OK: 0, FAILED: 0}
    for record in records:
        record_id = record.get("recordId") if isinstance(record, dict) else None
        data = record.get("data") if isinstance(record, dict) else None
        original = data if isinstance(data, str) else ""
        result, payload = FAILED, original
        if stream is None:
            logger.warning("record %s failed: %s", record_id, stream_error)
        else:
            result, payload = _transform(record_id, data, stream, original)
        counts[result] += 1
        out.append({"recordId": record_id, "result": result, "data": payload})
    logger.info("stream %s: %d records, %d Ok, %d ProcessingFailed", stream, len(records), *counts.values())
    return {"records": out}


def _transform(record_id: object, data: object, stream: str, original: str) -> tuple[str, str]:
    if not isinstance(data, str):
        logger.warning("record %s of stream %s failed: data is not a base64 string", record_id, stream)
        return FAILED, original
    try:
        body = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as e:
        logger.warning("record %s of stream %s failed: data is not base64 (%s)", record_id, stream, e)
        return FAILED, original
    try:
        line = write_record(parse_event(body, stream), stream)
    except InvalidEvent as e:
        logger.warning("record %s of stream %s failed: %s; body starts %s", record_id, stream, e, _prefix(body))
        return FAILED, original
    except Exception:  # a bug, not bad data: fail this record (it lands in the error output), keep the batch
        logger.exception(
            "record %s of stream %s failed: unexpected error; body starts %s", record_id, stream, _prefix(body)
        )
        return FAILED, original
    return OK, base64.b64encode(line.encode("utf-8")).decode("ascii")
