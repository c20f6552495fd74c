"""System Two's contract drift: what an import saw that the contract does not name, and what the
transform rejected, per stream (the admin's "contract drift" page, ``ingest/admin/contract_drift.py``).

Written inside the import's transaction: the envelope extras of each batch (one row per batch,
``EnvelopeExtras``), and once per import the ``UnknownField`` rows of every path it saw (three
statements, whatever the number of events). The Prometheus counter
``ingest_unknown_fields_seen_total{stream,field}`` counts the events after the commit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from functools import partial

from django.db import transaction
from django.db.models import Count, Max, Min
from django.utils import timezone
from prometheus_client import Counter

from ingest.models import FailedRecord, FailedRecordStatus, ImportFile
from ingest.models.contract_drift import EnvelopeExtras, UnknownField
from ingest.services.importing.extras import ENVELOPE, SAMPLE_CHARS, ExtrasTally, PathTally, compact

UNKNOWN_FIELDS = Counter(
    "ingest_unknown_fields_seen",
    "Events that carried a field the contract (transforms/streams.json) does not name, by stream and dotted path"
    " (envelope members start with @).",
    ["stream", "field"],
)


MAX_PATH = 512  # UnknownField.path
MAX_LABEL = 100  # a Prometheus label value


def label(scope: str, path: str) -> str:
    return "@" + path if scope == ENVELOPE else path


def record_envelopes(f: ImportFile, envelopes: list[tuple[int, str, dict]]) -> None:
    """One batch's envelope extras on the import's record (one row)."""
    if not envelopes:
        return
    EnvelopeExtras.objects.create(
        import_file=f,
        first_line=envelopes[0][0],
        last_line=envelopes[-1][0],
        events=len(envelopes),
        extras=[_envelope_item(line, event_id, extras) for line, event_id, extras in envelopes],
    )


def _envelope_item(line: int, event_id: str, extras: dict) -> dict:
    text = compact(extras)
    if "\\u0000" in text:  # PostgreSQL's jsonb cannot hold U+0000: kept as the JSON text, exactly
        return {"line": line, "eventId": event_id, "extrasJson": text}
    return {"line": line, "eventId": event_id, "extras": extras}


def forget_envelopes(f: ImportFile) -> None:
    """A re-import of ``f`` keeps its own envelope extras, not the earlier import's too."""
    EnvelopeExtras.objects.filter(import_file=f).delete()


def _sample(value: object) -> object:
    """The value, or its JSON text cut short when long (or holding U+0000, which jsonb refuses)."""
    text = compact(value)
    if "\\u0000" in text:
        return text[:SAMPLE_CHARS]
    return value if len(text) <= SAMPLE_CHARS else text[:SAMPLE_CHARS] + "…"


def record_unknown_fields(f: ImportFile, tally: ExtrasTally, seen_at: datetime | None = None) -> None:
    """Add one import's tally to the stream's ``UnknownField`` rows; counted after the commit."""
    if not tally.paths:
        return
    seen_at = seen_at or timezone.now()
    stream = f.stream
    tally = _bounded(tally)
    # Rows for paths never seen before (a concurrent import may create the same: ignored), then
    # every path's row locked and added to; concurrent imports of the stream add in turn.
    UnknownField.objects.bulk_create(
        [
            UnknownField(
                stream=stream,
                scope=scope,
                path=path,
                json_types=[],
                events=0,
                first_seen=seen_at,
                last_seen=seen_at,
                sample=_sample(t.sample),
            )
            for (scope, path), t in tally.paths.items()
        ],
        ignore_conflicts=True,
    )
    paths = {path for _scope, path in tally.paths}
    rows = list(
        UnknownField.objects.select_for_update()
        .filter(stream=stream, path__in=paths)
        .order_by("pk")  # one lock order for every import
    )
    for row in rows:
        t = tally.paths.get((row.scope, row.path))
        if t is None:
            continue
        row.json_types = sorted(set(row.json_types) | t.types)
        row.events += t.events
        row.last_seen = max(row.last_seen, seen_at)
        row.last_import = f
    UnknownField.objects.bulk_update(rows, ["json_types", "events", "last_seen", "last_import"], batch_size=500)
    counts = {label(scope, path): t.events for (scope, path), t in tally.paths.items()}
    transaction.on_commit(partial(_count, stream, counts))


def _bounded(tally: ExtrasTally) -> ExtrasTally:
    """Paths cut to the column's length (System Two names its fields; nothing bounds them), U+0000
    (which PostgreSQL's text refuses) written as ``\\u0000``."""
    if all(len(path) <= MAX_PATH and "\x00" not in path for _scope, path in tally.paths):
        return tally
    bounded = ExtrasTally()
    for (scope, path), t in tally.paths.items():
        key = (scope, path.replace("\x00", "\\u0000")[:MAX_PATH])
        into = bounded.paths.setdefault(key, PathTally(sample=t.sample))
        into.types |= t.types
        into.events += t.events
    return bounded


def _count(stream: str, counts: dict[str, int]) -> None:
    for name, events in counts.items():
        UNKNOWN_FIELDS.labels(stream, name[:MAX_LABEL]).inc(events)


# --- the failed records of a stream, by field and reason ------------------------------------------------

# "data.quantity: must be an integer, got the number 2.5" -> field "data.quantity", reason with the
# value's kind only, so that every event of a type change is one line. A value outside an enum
# stays named: each new enum value is a line of its own.
_PATH_RE = re.compile(r"^([A-Za-z_@][\w.\[\]@-]*): (.*)$", re.S)
_VALUE_RE = re.compile(r"\bthe (string|number) .*$", re.S)
_ENUM_RE = re.compile(r"^must be one of ")
MAX_REASONS = 5000  # distinct stored reasons read per page; more are summed as one line


@dataclass
class RejectedGroup:
    field: str
    reason: str
    count: int
    first_seen: datetime | None
    last_seen: datetime | None


def split_reason(text: str) -> tuple[str, str]:
    """(field path or "", reason in general terms) of a transform's message."""
    text = text.strip()
    match = _PATH_RE.match(text)
    if match is None:
        return "", text
    path, reason = match.groups()
    if not _ENUM_RE.match(reason):
        reason = _VALUE_RE.sub(lambda m: f"a {m.group(1)}", reason)
    return path, reason


def rejected_groups(stream: str) -> list[RejectedGroup]:
    """The stream's records still rejected, grouped by field and reason: one line per (field, reason)
    with its count and first/last arrival. One GROUP BY query; the reasons are merged here."""
    rows = (
        FailedRecord.objects.filter(status=FailedRecordStatus.REJECTED, stream=stream)
        .values("reason", "error_message")
        .order_by()
        .annotate(n=Count("id"), first=Min("arrival_at"), last=Max("arrival_at"))
    )
    groups: dict[tuple[str, str], RejectedGroup] = {}
    for row in rows[:MAX_REASONS]:
        field, reason = split_reason(row["reason"] or row["error_message"] or "(no reason recorded)")
        group = groups.get((field, reason))
        if group is None:
            groups[(field, reason)] = RejectedGroup(field, reason, row["n"], row["first"], row["last"])
            continue
        group.count += row["n"]
        group.first_seen = _earliest(group.first_seen, row["first"])
        group.last_seen = _latest(group.last_seen, row["last"])
    return sorted(groups.values(), key=lambda g: (-g.count, g.field, g.reason))


def _earliest(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None else a if b is None else min(a, b)


def _latest(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None else a if b is None else max(a, b)
