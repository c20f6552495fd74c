"""The demo's reconciliation stage: what is lost or mangled before S3 is found and repaired.

During the burst the edge loses a few calls (the API answers 200, but the record never reaches
the stream, as when Firehose gives a record up after its retry window), and a transform release
mangles one field (customers' ``name``) for a while. Neither leaves a trace in the pipeline.
Then System Two's snapshots arrive: one complete full snapshot per stream, put under
``snapshots/{stream}/`` in the bucket. The consumer registers them, the worker reconciles them
and repairs ``missing`` and ``behind`` keys on its own; the operator (this stage) applies the
content of ``differs`` keys. The stage checks that the keys the reconciliations found are exactly
those the edge lost or the transform mangled, and the demo's fold check then holds again.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import json
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from transforms.events import parse_timestamp
from transforms.streams import STREAMS

logger = logging.getLogger(__name__)

MANGLED_STREAM = "customers"
MANGLED_FIELD = "name"
MANGLE_SUFFIX = " [mangled by release v0]"


@dataclass
class ReconciliationStep:
    calls_lost: int = 0
    records_mangled: int = 0
    snapshots: int = 0
    found: dict[str, int] = field(default_factory=dict)  # category -> keys, over every stream
    repaired: int = 0
    content_repaired: int = 0
    expected_keys: int = 0
    found_expected: bool | None = None  # the drift found is exactly the keys lost or mangled
    unexpected: list[str] = field(default_factory=list)


def _key(event: dict) -> tuple[str, tuple]:
    spec = STREAMS[event["stream"]]
    return event["stream"], tuple(event["key"][n] for n in spec.key_names)


def _rank(event: dict) -> tuple:
    return (event["version"], parse_timestamp(event["occurredAt"]), event["eventId"])


def winners(events: list[dict]) -> dict[tuple[str, tuple], dict]:
    best: dict[tuple[str, tuple], dict] = {}
    for event in events:
        if "_invalid" in event:
            continue
        ident = _key(event)
        if ident not in best or _rank(event) > _rank(best[ident]):
            best[ident] = event
    return best


def choose_lost(events: list[dict], count: int, seed: int) -> set[str]:
    """EventIds of ``count`` calls the edge loses: winning events of keys that no other event
    reaches at the same version (so the loss always shows, as missing or behind)."""
    versions: dict[tuple[str, tuple], list[int]] = {}
    for event in events:
        if "_invalid" not in event:
            versions.setdefault(_key(event), []).append(event["version"])
    candidates = [
        e
        for ident, e in winners(events).items()
        if versions[ident].count(e["version"]) == 1 and e["stream"] != MANGLED_STREAM
    ]
    rng = random.Random(seed)  # noqa: S311 - a demo's choice, not a secret
    return {e["eventId"] for e in rng.sample(candidates, min(count, len(candidates)))}


class ManglingRelease:
    """A transform release that garbles customers' ``name`` for its first ``limit`` upserts, in
    front of the release the demo runs (records are the base64 bodies Firehose hands the Lambda)."""

    def __init__(self, inner: Callable[[dict, Any], dict], limit: int) -> None:
        self.inner = inner
        self.limit = limit
        self.mangled: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, event: dict, context: Any) -> dict:
        from transforms.events import stream_of_delivery_stream

        try:
            stream = stream_of_delivery_stream(str(event.get("deliveryStreamArn") or ""))
        except ValueError:
            stream = ""
        if stream == MANGLED_STREAM:
            records = []
            for record in event.get("records", []):
                records.append(self._mangle(record))
            event = {**event, "records": records}
        return self.inner(event, context)

    def _mangle(self, record: dict) -> dict:
        try:
            body = json.loads(base64.b64decode(record["data"]))
        except (KeyError, TypeError, ValueError):
            return record
        if not isinstance(body, dict) or body.get("eventType") != "upsert" or not isinstance(body.get("data"), dict):
            return record
        with self._lock:
            if len(self.mangled) >= self.limit and body.get("eventId") not in self.mangled:
                return record
            self.mangled.add(str(body.get("eventId")))
        name = body["data"].get(MANGLED_FIELD)
        if not isinstance(name, str):
            return record
        body["data"][MANGLED_FIELD] = name + MANGLE_SUFFIX
        return {**record, "data": base64.b64encode(json.dumps(body).encode()).decode()}


@contextlib.contextmanager
def losing_edge(firehose, lost: set[str]) -> Iterator[list[str]]:
    """The edge answers these calls 200 and loses them (a record Firehose gave up on after its
    retry window): the stream never sees them. Yields the eventIds actually lost."""
    from ingest.local.firehose.records import PutRecordResult

    real = firehose.put_record
    dropped: list[str] = []

    def put_record(stream: str, data: bytes, partition_key: str | None = None) -> PutRecordResult:
        try:
            event_id = json.loads(data).get("eventId")
        except (ValueError, AttributeError):
            event_id = None
        if event_id in lost:
            dropped.append(event_id)
            return PutRecordResult(sequence_number=f"lost-{len(dropped)}")
        return real(stream, data, partition_key)

    firehose.put_record = put_record
    try:
        yield dropped
    finally:
        del firehose.put_record  # the instance's own method again


def expected_drift(events: list[dict], lost: set[str], mangled: set[str]) -> set[tuple[str, str]]:
    """(stream, key JSON) of the keys a reconciliation must find: those whose winning event was
    lost, or arrived mangled."""
    out = set()
    for (stream, _key_values), event in winners(events).items():
        if event["eventId"] in lost or event["eventId"] in mangled:
            key = {n: event["key"][n] for n in STREAMS[stream].key_names}
            out.add((stream, json.dumps(key, sort_keys=True)))
    return out


def run_reconciliation_step(
    events: list[dict], s3, bucket: str, lost: set[str], mangled: set[str], deadline: float, say: Callable[[str], None]
) -> ReconciliationStep:
    """Put a complete full snapshot of every stream in the bucket, wait for the worker's runs, apply
    the content repairs as the operator, and compare what was found with what was lost or mangled."""
    from ingest.models.reconciliation import Category, ReconciliationDrift, ReconciliationRun, RunStatus
    from ingest.services.repair.reconcile import Requested, repair
    from ingest.testing.snapshots import header, snapshot_of

    step = ReconciliationStep(calls_lost=len(lost), records_mangled=len(mangled))
    valid = [e for e in events if "_invalid" not in e]
    newest = max(parse_timestamp(e["occurredAt"]) for e in valid)
    taken = (newest + timedelta(seconds=1)).isoformat().replace("+00:00", "Z")
    first_run = (ReconciliationRun.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1
    for stream in STREAMS:
        lines = [header(stream, taken), *snapshot_of(valid, stream)]
        body = gzip.compress("".join(json.dumps(line) + "\n" for line in lines).encode())
        s3.put_object(Bucket=bucket, Key=f"snapshots/{stream}/demo-{taken}.jsonl.gz", Body=body)
        step.snapshots += 1
    say(f"System Two's snapshots: {step.snapshots} complete full snapshots (taken at {taken}) put under snapshots/")
    runs = ReconciliationRun.objects.filter(pk__gte=first_run, trigger="notification")
    while time.monotonic() < deadline:
        if runs.count() == step.snapshots and not runs.exclude(status__in=[RunStatus.DONE, RunStatus.FAILED]).exists():
            break
        time.sleep(0.2)
    for run in runs.filter(status=RunStatus.DONE, differs__gt=0):
        repair(run, Requested(apply_content=True))  # the operator's "Apply content"
    drift = ReconciliationDrift.objects.filter(
        run__in=runs, category__in=[Category.MISSING, Category.BEHIND, Category.DIFFERS]
    )
    for run in runs:
        run.refresh_from_db()
        for category in ("missing", "behind", "ahead", "differs", "only_on_website"):
            step.found[category] = step.found.get(category, 0) + getattr(run, category)
        step.repaired += run.repaired
        step.content_repaired += run.content_repaired
    found = {(d.run.stream, json.dumps(json.loads(d.key_json), sort_keys=True)) for d in drift.select_related("run")}
    expected = expected_drift(events, lost, mangled)
    step.expected_keys = len(expected)
    step.found_expected = found == expected
    step.unexpected = sorted(f"{s} {k}" for s, k in found ^ expected)[:20]
    say(
        f"reconciliation: {sum(step.found.values())} key(s) out of sync ({step.found}); {step.repaired} repaired by "
        f"the worker, {step.content_repaired} content repair(s) applied by the operator; "
        f"{'exactly' if step.found_expected else 'NOT exactly'} the {len(expected)} key(s) lost at the edge or mangled"
    )
    return step
