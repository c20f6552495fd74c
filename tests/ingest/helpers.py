"""Failed records as the local Firehose stand-in writes them: a transform that fails some valid
events (a release with a bug) in front of the real one, and the real one for invalid events."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from ingest.local.firehose import FirehoseConfig, LocalFirehose
from ingest.services.importing.lifecycle import ImportOutcome
from ingest.services.importing.run import import_file
from ingest.services.intake.registration import register_local_file
from ingest.testing.samples import order_events
from transforms.events import validate_event
from transforms.handler import lambda_handler
from transforms.system_one.writer import write_record

BUG_MESSAGE = "transform v0 bug: rush orders are not supported"


def buggy_transform(is_buggy: Callable[[dict], bool]) -> Callable[[dict, object], dict]:
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


def invalid_order(n: int) -> dict:
    """An orders event the contract rejects (no version), whatever the transform's release."""
    [event] = order_events(1, start=n, run="bad")
    event = dict(event)
    event.pop("version")
    return event


def land_rejected(bucket: str, events: list[dict], *, transform=None) -> LocalFirehose:
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


def error_keys(s3, bucket: str) -> list[str]:
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="errors/").get("Contents", [])
    return sorted(o["Key"] for o in listed)


def new_bucket(s3) -> str:
    name = f"ops-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name


def orders_at(occurred: list[datetime], *, run: str, version: int = 1, delete: bool = False) -> list[dict]:
    """Valid orders events, one per ``occurredAt``, keys ``SO-{run}{n}``."""
    out = []
    for n, when in enumerate(occurred):
        [event] = order_events(1, start=n, run=run)
        event = dict(event, occurredAt=when.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z", version=version)
        event["eventId"] = str(uuid.uuid4())
        if delete:
            event["eventType"] = "delete"
            event.pop("data")
        out.append(validate_event(event, "orders"))
    return out


def import_local(events: list[dict], folder: Path, name: str) -> ImportOutcome:
    """Write the events as one System One file under ``folder/orders/`` and import it."""
    path = folder / "orders" / f"{name}.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(write_record(e) for e in events))
    f, _ = register_local_file(path)
    return import_file(f.pk)
