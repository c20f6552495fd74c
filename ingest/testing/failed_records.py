"""Failed records as the local Firehose stand-in writes them: a transform that fails some valid
events (a release with a bug) in front of the real one, and the real one for invalid events."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable

from ingest.local.firehose import FirehoseConfig, LocalFirehose
from transforms.handler import lambda_handler

BUG_MESSAGE = "transform v0 bug: rush orders are not supported"

Transform = Callable[[dict, object], dict]


def buggy_transform(is_buggy: Callable[[dict], bool]) -> Transform:
    """The real transform, except that records ``is_buggy`` says so fail, like a release with a bug."""

    def transform(event: dict, context: object) -> dict:
        answer = lambda_handler(event, context)
        for record, out in zip(event["records"], answer["records"], strict=True):
            try:
                doc = json.loads(base64.b64decode(record["data"]))
            except ValueError:
                continue
            if isinstance(doc, dict) and is_buggy(doc):
                out["result"] = "ProcessingFailed"
                out["data"] = record["data"]
        return answer

    return transform


def is_rush_order(doc: dict) -> bool:
    return bool((doc.get("data") or {}).get("rush"))


def land_rejected(bucket: str, events: list[dict], *, transform: Transform | None = None) -> LocalFirehose:
    """Send the events through the Firehose stand-in (buggy transform by default) and flush: the Ok
    ones land under orders/, the failed ones under errors/orders/processing-failed/."""
    firehose = LocalFirehose(
        FirehoseConfig(bucket=bucket, buffer_interval_seconds=60.0),
        transform=transform or buggy_transform(is_rush_order),
        start=False,
    )
    for event in events:
        firehose.put_record(event.get("stream", "orders"), json.dumps(event).encode())
    firehose.flush()
    firehose.close()
    return firehose
