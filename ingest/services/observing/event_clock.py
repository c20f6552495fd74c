"""Freshness by the ERP's clock: how old the events an import loaded were when their rows committed.

While a file is imported its events' ``occurredAt`` are noted (8 bytes each, so a million-line
file costs 8 MB; as whole microseconds since the epoch, not as a float: far from 1970 a float
cannot hold a microsecond, and 9999-12-31T23:59:59.999999Z would round into year 10000); when
the import commits, in its transaction, the lags (commit time minus ``occurredAt``) are counted
into fixed buckets (``EventLagCount``) and the newest ``occurredAt`` is kept
(``ImportEventClock``). Any window's percentiles are then a SQL sum of bucket counts, whatever
the number of imports, and a rolled-back import leaves nothing behind.
"""

from __future__ import annotations

import bisect
import math
from array import array
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ingest.models import EventLagCount, ImportEventClock, ImportFile
from ingest.services.importing.rows import RowEvent

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)

# Upper bounds (seconds) of the lag buckets; the last one takes everything longer. Firehose buffers
# for about a minute, so the interesting range is 1 s to an hour; days show replays and backfills.
LAG_BUCKETS: tuple[float, ...] = (
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0,
    1800.0, 3600.0, 7200.0, 21600.0, 86400.0, 604800.0, math.inf,
)  # fmt: skip


@dataclass(frozen=True)
class ClockSummary:
    """What one import's events say, for its log line and its metrics."""

    events: int
    newest_occurred_at: datetime | None
    oldest_occurred_at: datetime | None
    buckets: dict[int, int]
    lag_sum_seconds: float

    @property
    def p50(self) -> float | None:
        return bucket_percentile(self.buckets, 0.5)

    @property
    def p95(self) -> float | None:
        return bucket_percentile(self.buckets, 0.95)


def stamps_of(events: Iterable[RowEvent]) -> array[int]:
    """The events' ``occurredAt`` as ``EventClock`` keeps them."""
    return array("q", ((ev.occurred_at - _EPOCH) // _MICROSECOND for ev in events))


class EventClock:
    """Collects the ``occurredAt`` of the events one import hands to the loader."""

    def __init__(self) -> None:
        # Microseconds since the epoch: the years 1-9999 are within +-2.6e17, well inside 64 bits.
        self._stamps = array("q")

    def observe(self, events: Iterable[RowEvent]) -> None:
        self._stamps.extend(stamps_of(events))

    def extend(self, stamps: array[int]) -> None:
        """Stamps taken where the events were parsed (``stamps_of``): a second process's batch."""
        self._stamps.extend(stamps)

    def __len__(self) -> int:
        return len(self._stamps)

    def summarize(self, committed_at: datetime) -> ClockSummary:
        if not self._stamps:
            return ClockSummary(0, None, None, {}, 0.0)
        now = (committed_at - _EPOCH) // _MICROSECOND
        buckets: dict[int, int] = {}
        lag_sum = 0.0
        for stamp in self._stamps:
            lag = max(0, now - stamp) / 1e6  # an ERP clock ahead of ours is no lag, not a negative one
            lag_sum += lag
            index = bisect.bisect_left(LAG_BUCKETS, lag)
            buckets[index] = buckets.get(index, 0) + 1
        return ClockSummary(
            events=len(self._stamps),
            newest_occurred_at=_EPOCH + max(self._stamps) * _MICROSECOND,
            oldest_occurred_at=_EPOCH + min(self._stamps) * _MICROSECOND,
            buckets=buckets,
            lag_sum_seconds=lag_sum,
        )


_CLOCK_FIELDS = ["stream", "committed_at", "events", "newest_occurred_at", "oldest_occurred_at"]


def record_clock(f: ImportFile, clock: EventClock, committed_at: datetime, *, replace: bool = True) -> ClockSummary:
    """Write the import's clock and lag histogram; call inside the import's transaction.

    ``replace``: an earlier import of the file may have written its own (False only when none can
    have: one statement fewer)."""
    summary = clock.summarize(committed_at)
    row = ImportEventClock(
        import_file=f,
        stream=f.stream,
        committed_at=committed_at,
        events=summary.events,
        newest_occurred_at=summary.newest_occurred_at,
        oldest_occurred_at=summary.oldest_occurred_at,
    )
    # One INSERT ... ON CONFLICT DO UPDATE (update_or_create takes six round trips).
    ImportEventClock.objects.bulk_create(
        [row], update_conflicts=True, unique_fields=["import_file"], update_fields=_CLOCK_FIELDS
    )
    if replace:
        # A re-import replaces the histogram: the lags are those of the rows as they stand now.
        EventLagCount.objects.filter(import_file=f).delete()
    EventLagCount.objects.bulk_create(
        [
            EventLagCount(import_file=f, stream=f.stream, committed_at=committed_at, bucket=index, count=count)
            for index, count in sorted(summary.buckets.items())
        ]
    )
    return summary


def bucket_percentile(buckets: Mapping[int, int], q: float) -> float | None:
    """The q-quantile (0..1) of a lag histogram, interpolated linearly inside its bucket (as
    Prometheus's ``histogram_quantile``); the open last bucket answers its lower bound."""
    total = sum(buckets.values())
    if not total:
        return None
    rank = q * total
    seen = 0
    for index in sorted(buckets):
        count = buckets[index]
        if count and seen + count >= rank:
            lower = LAG_BUCKETS[index - 1] if index > 0 else 0.0
            upper = LAG_BUCKETS[index]
            if math.isinf(upper):
                return lower
            return lower + (upper - lower) * max(0.0, rank - seen) / count
        seen += count
    return LAG_BUCKETS[-2]


def merge_buckets(rows: Sequence[tuple[int, int]]) -> dict[int, int]:
    out: dict[int, int] = {}
    for index, count in rows:
        out[index] = out.get(index, 0) + int(count)
    return out
