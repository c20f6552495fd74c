"""What the operators' side adds to every import, called from ``ingest.services.importing.run``.

Per batch (inside the import's transaction): note the events' ``occurredAt`` and write the
batch's changed keys to the outbox. When the import is about to commit (still inside it): the
ERP-clock freshness rows. After the commit: deliver the change notifications, count the
metrics, log the freshness line. A dry run or a rolled-back import leaves none of it.
"""

from __future__ import annotations

import logging
from array import array
from collections.abc import Mapping
from datetime import datetime
from functools import partial

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from ingest.models import ChangeNotification, ImportFile
from ingest.services.changes import outbox
from ingest.services.importing.extras import ExtrasTally
from ingest.services.loading import BatchCounts
from ingest.services.observing import contract_drift, prometheus
from ingest.services.observing.durations import format_seconds
from ingest.services.observing.event_clock import ClockSummary, EventClock, record_clock

logger = logging.getLogger("ingest.freshness")


class ImportObserver:
    def __init__(self, f: ImportFile) -> None:
        """``f`` as claimed by the import: before its first attempt no earlier import has written
        notifications, a clock or lag counts for it (a failed attempt writes none), which spares a
        small file the queries for them."""
        self.file = f
        self.clock = EventClock()
        self.first_import = f.attempts_count == 0
        # A re-import's notifications follow those of the earlier imports of the file.
        self.parts = 0
        if not self.first_import:
            self.parts = ChangeNotification.objects.filter(import_file=f).aggregate(n=Max("part"))["n"] or 0
            contract_drift.forget_envelopes(f)

    def batch(self, stamps: array[int], counts: BatchCounts) -> None:
        """After a batch was applied: its events' clock (``event_clock.stamps_of``), its outbox row;
        then drop its keys."""
        self.clock.extend(stamps)
        self.parts += 1
        outbox.record_changes(self.file, counts, self.parts)
        counts.clear_keys()

    def envelopes(self, envelopes: list[tuple[int, str, dict]]) -> None:
        """A batch's unknown envelope members, kept on the import's record."""
        contract_drift.record_envelopes(self.file, envelopes)

    def unknown_fields(self, tally: ExtrasTally) -> None:
        """Every line parsed: the import's unknown fields added to the stream's drift page."""
        contract_drift.record_unknown_fields(self.file, tally)

    def committing(self, status: str, counts: Mapping[str, int], duration: float) -> ClockSummary:
        """The import's last writes (inside its transaction, after the lifecycle recorded the
        run), and what follows its commit."""
        f = self.file
        finished, lag = f.finished_at or timezone.now(), f.lag_seconds  # as ``lifecycle.finish`` recorded them
        summary = record_clock(f, self.clock, finished, replace=not self.first_import)
        outbox.dispatch_after_commit(f.pk)
        transaction.on_commit(
            partial(
                prometheus.observe_import,
                f.stream,
                status,
                dict(counts),
                duration,
                lag,
                summary.buckets,
                summary.lag_sum_seconds,
            )
        )
        transaction.on_commit(partial(_log_freshness, f.pk, f.stream, summary, finished, lag))
        return summary


def _log_freshness(file_id: int, stream: str, summary: ClockSummary, finished: datetime, lag: float | None) -> None:
    if not summary.events:
        return
    newest_age = (finished - summary.newest_occurred_at).total_seconds() if summary.newest_occurred_at else None
    logger.info(
        "freshness of %s after file %s: newest event %s old, event-to-row lag p50 %s p95 %s over %s events,"
        " S3-to-row lag %s",
        stream,
        file_id,
        format_seconds(newest_age),
        format_seconds(summary.p50),
        format_seconds(summary.p95),
        summary.events,
        format_seconds(lag),
    )


def failed(stream: str) -> None:
    """A file's import ended as failed (call inside the transaction that says so)."""
    transaction.on_commit(partial(prometheus.observe_failure, stream))
