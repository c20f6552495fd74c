"""The consumer's sweep: which files to enqueue again, and when to look.

What the consumer looks for, because the broker is only a task:

* pending files whose task was lost (a publish failed while Redis was down, Redis restarted
  without persistence, a consumer died between commit and enqueue): every ``sweep_interval``;
* pending files whose task was lost with the broker's restart (``broker_watch``): every time
  the consumer looks;
* running files whose importer died (``lifecycle.requeue_orphans``): on PostgreSQL, where one
  ``SKIP LOCKED`` query tells, every ``orphan_check_interval`` too, so that a dead worker's file
  is importing again within seconds;
* pending files whose retry (after a transient failure) is due (``retries_due``): at every look,
  the frequent ones included. The retry waits in the database, not as a countdown task inside a
  worker, so a worker that dies holds none.
"""

from __future__ import annotations

import math
import time
from datetime import datetime, timedelta

from django.db import connection
from django.db.models import Q
from django.utils import timezone

from ingest.models import ImportFile, ImportStatus
from ingest.services.importing import lifecycle

# A file registered without a task (its publish failed) gets one from the sweep after this long,
# so that the sweep does not race the registrar that is about to ring it.
UNENQUEUED_GRACE_SECONDS = 5.0


def lost_tasks(*, requeue_after: float, limit: int = 1000) -> list[int]:
    now = timezone.now()
    return list(
        ImportFile.objects.filter(status=ImportStatus.PENDING, retry_due_at__isnull=True)  # retries_due sends those
        .filter(
            Q(enqueued_at__isnull=True, created_at__lt=now - timedelta(seconds=UNENQUEUED_GRACE_SECONDS))
            | Q(enqueued_at__lt=now - timedelta(seconds=requeue_after))
        )
        .values_list("pk", flat=True)[:limit]
    )


def lost_with_the_broker(before: datetime, *, limit: int = 10_000) -> list[int]:
    """Pending files whose task was set, or whose retry (due later) was scheduled, before
    ``before``: the broker that held them is gone (see broker_watch). A retry recorded in the
    database (``retry_due_at``) was never in the broker: ``retries_due`` sends it when due."""
    return list(
        ImportFile.objects.filter(status=ImportStatus.PENDING, retry_due_at__isnull=True)
        .filter(Q(enqueued_at__lt=before) | Q(enqueued_at__gt=timezone.now(), updated_at__lt=before))
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )


def files_to_enqueue(
    *,
    requeue_after: float,
    max_redeliveries: int,
    abandoned_after: float,
    orphans_only: bool = False,
    broker_lost_before: datetime | None = None,
) -> list[int]:
    """The files to enqueue again (orphans first, back to pending); run it in the transaction that
    schedules their tasks."""
    orphans = lifecycle.requeue_orphans(max_redeliveries=max_redeliveries, abandoned_after=abandoned_after)
    to_enqueue = list(orphans.requeued)
    if not orphans_only:
        to_enqueue += lost_tasks(requeue_after=requeue_after)
    if broker_lost_before is not None:
        to_enqueue += lost_with_the_broker(broker_lost_before)
    return list(dict.fromkeys(to_enqueue))


def retries_due(*, limit: int = 1000) -> list[int]:
    """Pending files whose retry is due now, taken (run it in the transaction that sends them)."""
    return lifecycle.take_due_retries(limit=limit)


class SweepClock:
    """When the next look is due. ``sweep_interval`` <= 0 turns both off."""

    def __init__(self, sweep_interval: float, orphan_check_interval: float) -> None:
        self.sweep_interval = sweep_interval
        self._orphan_check_interval = orphan_check_interval
        self._last_sweep = 0.0
        self._last_orphan_check = 0.0

    @property
    def orphan_check_interval(self) -> float:
        """0 where the check is not cheap (SQLite: the full sweep's timer does it) or the sweep is off."""
        if self.sweep_interval <= 0 or connection.vendor != "postgresql":
            return 0.0
        return self._orphan_check_interval

    def due(self, *, force: bool = False) -> str:
        """``full``, ``orphans`` or '' (nothing due now); the look is counted as done."""
        now = time.monotonic()
        full = force or (self.sweep_interval > 0 and now - self._last_sweep >= self.sweep_interval)
        interval = self.orphan_check_interval
        orphans = interval > 0 and now - self._last_orphan_check >= interval
        if full:
            self._last_sweep = now
        if full or orphans:
            self._last_orphan_check = now
        return "full" if full else ("orphans" if orphans else "")

    def poll_seconds(self, wait: int) -> int:
        """The SQS long poll, shortened so that the loop comes round for the next orphan check."""
        interval = self.orphan_check_interval
        return min(wait, max(1, math.ceil(interval))) if interval > 0 else wait
